import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let rt: FakeRuntime
let starts: number
beforeEach(async () => {
  rt = new FakeRuntime(() => ({}))
  starts = 0
  const start = rt.start.bind(rt)
  rt.start = (spec) => (starts++, start(spec))
  tp = await testPlane(rt, { warmPools: [{ project: 'default', template: 'default', replicas: 2 }] })
})
afterEach(() => tp.dispose())

const json = async (r: Response) => (await r.json()) as Record<string, any>

describe('warm pools in create', () => {
  it('a create with the template defaults claims a started sandbox (no start on its path), and the pool refills', async () => {
    await tp.svc.sandboxes.pools.settled()
    const pooled = await rt.list()
    expect(pooled).toHaveLength(2)
    const before = starts
    const sbx = await json(await tp.call('POST', '/v1/sandboxes', { body: { metadata: { a: 'b' } } }))
    expect(pooled).toContain(sbx.id)
    expect(sbx).toMatchObject({ state: 'running', metadata: { a: 'b' } })
    await tp.svc.sandboxes.pools.settled()
    expect(starts).toBe(before + 1) // the refill, after the create returned
    const pools = await json(await tp.call('GET', '/v1/pools'))
    expect(pools.items).toEqual([expect.objectContaining({ template: 'default', replicas: 2, ready: 2, hits: 1, misses: 0 })])
    // The claimed sandbox is an ordinary one: exec, destroy.
    expect((await tp.call('POST', `/v1/sandboxes/${sbx.id}/exec`, { body: { cmd: 'true' } })).status).toBe(200)
    expect((await tp.call('DELETE', `/v1/sandboxes/${sbx.id}`)).status).toBe(204)
    expect(await rt.list()).not.toContain(sbx.id)
  })

  it('a create asking for other resources or a denyRead misses and starts its own', async () => {
    await tp.svc.sandboxes.pools.settled()
    const pooled = await rt.list()
    const a = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { memoryMb: 300 } } }))
    const b = await json(await tp.call('POST', '/v1/sandboxes', { body: { filesystem: { denyRead: ['/etc/hosts'] } } }))
    expect(pooled).not.toContain(a.id)
    expect(pooled).not.toContain(b.id)
    expect((await json(await tp.call('GET', '/v1/pools'))).items[0]).toMatchObject({ hits: 0 })
  })

  it('a create the quota refuses destroys the sandbox it claimed; another project never claims', async () => {
    await tp.dispose()
    rt = new FakeRuntime(() => ({}))
    tp = await testPlane(rt, { warmPools: [{ project: 'default', template: 'default', replicas: 1 }], quotas: { default: { sandboxes: 0, memoryMb: 1_000_000, cpu: 10_000 }, projects: {} } })
    await tp.svc.sandboxes.pools.settled()
    const [pooled] = await rt.list()
    expect((await tp.call('POST', '/v1/sandboxes', { body: {} })).status).toBe(429)
    expect(await rt.list()).not.toContain(pooled)
    const other = await json(await tp.call('POST', '/v1/tokens', { body: { name: 'o', project: 'other', scopes: ['sandboxes:read'] } }))
    expect((await json(await tp.call('GET', '/v1/pools', { token: other.token }))).items).toEqual([])
  })

  it('stopping the server destroys every unclaimed pooled sandbox', async () => {
    await tp.svc.sandboxes.pools.settled()
    const sbx = await json(await tp.call('POST', '/v1/sandboxes', { body: {} }))
    await tp.svc.sandboxes.pools.settled()
    await tp.close()
    expect(await rt.list()).toEqual([sbx.id])
  })
})
