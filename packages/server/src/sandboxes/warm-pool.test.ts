import { describe, expect, it } from 'vitest'
import { silentLogger } from '../core/log.js'
import { FakeRuntime } from '../runtime/fake.js'
import { type PooledSpec, WarmPools, poolKey } from './warm-pool.js'

const spec: PooledSpec = { template: { name: 'default', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [] }

function pools(rt = new FakeRuntime(), now?: () => number) {
  let n = 0
  return { rt, wp: new WarmPools({ runtime: rt, log: silentLogger, newId: () => `sbx_pool${++n}`, ...(now ? { now } : {}) }) }
}

describe('WarmPools', () => {
  it('fills to replicas, a claim hands out a started sandbox once and refills behind it', async () => {
    const { rt, wp } = pools()
    wp.configure([{ name: 'default', spec, replicas: 2 }])
    await wp.settled()
    expect((await rt.list()).sort()).toEqual(['sbx_pool1', 'sbx_pool2'])
    const a = wp.claim(spec)
    const b = wp.claim(spec)
    expect([a?.id, b?.id]).toEqual(['sbx_pool1', 'sbx_pool2'])
    await wp.settled()
    const c = wp.claim(spec)
    expect(c?.id).toMatch(/^sbx_pool[34]$/)
    expect(wp.stats()[0]).toMatchObject({ name: 'default', replicas: 2, hits: 3, misses: 0 })
    await wp.close()
  })

  it('a create whose spec differs in anything the sandbox is made with is a miss', async () => {
    const { wp } = pools()
    wp.configure([{ name: 'default', spec, replicas: 1 }])
    await wp.settled()
    for (const other of [
      { ...spec, resources: { ...spec.resources, memoryMb: 256 } },
      { ...spec, denyRead: ['/etc/hosts'] },
      { ...spec, template: { ...spec.template, layers: ['/l1'] } },
      { ...spec, fromSnapshot: 'snap_1' },
    ]) {
      expect(poolKey(other)).not.toBe(poolKey(spec))
      expect(wp.claim(other)).toBeUndefined()
    }
    expect(wp.claim(spec)).toBeDefined()
    await wp.close()
  })

  it('an empty pool is a miss, counted, and never an error', async () => {
    const { wp } = pools()
    wp.configure([{ name: 'default', spec, replicas: 1 }])
    expect(wp.claim(spec)).toBeUndefined()
    expect(wp.stats()[0]).toMatchObject({ hits: 0, misses: 1 })
    await wp.close()
  })

  it('a failing start backs off and says why; the next success clears it', async () => {
    let t = 0
    const { rt, wp } = pools(new FakeRuntime(), () => t)
    rt.failNextStart = new Error('no space')
    wp.configure([{ name: 'default', spec, replicas: 1 }])
    await wp.settled()
    expect(wp.stats()[0]).toMatchObject({ ready: 0, lastError: 'no space' })
    t += 1_000 // past the first backoff (100 ms)
    wp.claim(spec) // a miss, which kicks a refill
    await wp.settled()
    expect(wp.stats()[0]).toMatchObject({ ready: 1 })
    expect(wp.stats()[0]?.lastError).toBeUndefined()
    await wp.close()
  })

  it('shrinking or dropping a pool destroys its surplus; close destroys every unclaimed sandbox and no claimed one', async () => {
    const { rt, wp } = pools()
    wp.configure([{ name: 'default', spec, replicas: 3 }])
    await wp.settled()
    wp.configure([{ name: 'default', spec, replicas: 1 }])
    await wp.settled()
    await new Promise((r) => setTimeout(r, 10))
    expect(await rt.list()).toHaveLength(1)
    const claimed = wp.claim(spec)
    await wp.settled()
    wp.configure([])
    await wp.close()
    expect(await rt.list()).toEqual([claimed?.id])
  })
})
