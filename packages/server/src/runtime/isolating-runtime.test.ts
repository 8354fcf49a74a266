import { describe, expect, it } from 'vitest'
import { FakeRuntime } from './fake.js'
import { IsolatingRuntime, namespacesLevel, type OwningRuntime } from './isolating-runtime.js'
import type { SandboxSpec } from './runtime.js'

/** A fake standing in for the gvisor level: it owns what it started (by id), as GvisorRuntime does by its bundles. */
class OwningFake extends FakeRuntime implements OwningRuntime {
  readonly mine = new Set<string>()
  override async start(spec: SandboxSpec) {
    const ref = await super.start(spec)
    this.mine.add(spec.id)
    return ref
  }
  owns(id: string): boolean {
    return this.mine.has(id)
  }
}

const spec = (id: string, isolation?: 'namespaces' | 'gvisor'): SandboxSpec => ({
  id,
  template: { name: 'base', rootfs: 'host' },
  resources: { cpu: 1, memoryMb: 64, pids: 16 },
  denyRead: [],
  ...(isolation ? { isolation } : {}),
})

describe('IsolatingRuntime', () => {
  it('starts each sandbox at the level its spec names (absent: namespaces) and routes every later call by owner', async () => {
    const ns = new FakeRuntime()
    const gv = new OwningFake((r) => ({ stdout: `gvisor ${r.cmd.join(' ')}\n` }))
    const rt = new IsolatingRuntime(ns, gv)
    const a = await rt.start(spec('sbx_a'))
    const b = await rt.start(spec('sbx_b', 'gvisor'))
    const c = await rt.start(spec('sbx_c', 'namespaces'))
    expect(await ns.list()).toEqual(expect.arrayContaining(['sbx_a', 'sbx_c']))
    expect(await gv.list()).toEqual(['sbx_b'])
    expect([rt.isolationOf('sbx_a'), rt.isolationOf('sbx_b'), rt.isolationOf('sbx_c')]).toEqual(['namespaces', 'gvisor', 'namespaces'])
    const out = async (h: ReturnType<typeof rt.exec>) => {
      let s = ''
      h.stdout.on('data', (d: Buffer) => (s += d.toString()))
      h.stdin.end()
      await h.wait()
      return s
    }
    expect(await out(rt.exec(b, { cmd: ['uname'], env: {}, user: 'root', timeoutMs: 1000 }))).toBe('gvisor uname\n')
    expect(await out(rt.exec(a, { cmd: ['uname'], env: {}, user: 'root', timeoutMs: 1000 }))).toBe('uname\n')
    expect((await rt.list()).sort()).toEqual(['sbx_a', 'sbx_b', 'sbx_c'])
    await rt.destroy('sbx_b', b)
    expect(await gv.list()).toEqual([])
    await rt.destroy('sbx_a', a)
    await rt.destroy('sbx_c', c)
    expect(namespacesLevel(rt)).toBe(ns)
    expect(namespacesLevel(ns)).toBe(ns)
  })

  it("refuses a snapshot of a gvisor sandbox, and leaves the namespaces level's snapshots alone", async () => {
    const ns = new FakeRuntime()
    const gv = new OwningFake()
    const rt = new IsolatingRuntime(ns, gv)
    const g = await rt.start(spec('sbx_g', 'gvisor'))
    await expect(rt.snapshots!.create(g, 'snap_x')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/gvisor/) })
    const n = await rt.start(spec('sbx_n'))
    expect((await rt.snapshots!.create(n, 'snap_y')).id).toBe('snap_y')
    await rt.destroy('sbx_g', g)
    await rt.destroy('sbx_n', n)
  })
})
