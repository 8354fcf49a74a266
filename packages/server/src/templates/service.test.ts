import { BuildTemplateInput } from '@tidepool/sdk'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../core/log.js'
import { FakeRuntime } from '../runtime/fake.js'
import type { ExecRequest } from '../runtime/runtime.js'
import { openStore, type OpenedStore } from '../store/db.js'
import type { NetworkSeam } from '../kit/network-seam.js'
import { TemplateService, type TemplateDeps } from './service.js'

let store: OpenedStore
let runtime: FakeRuntime
let svc: TemplateService
let live: Map<string, number>
const me = { project: 'p1', admin: false }

/** Commands whose argv contains "fail" exit 2 with output; everything else succeeds. */
const stdins: string[] = []
const reply = (r: ExecRequest) => {
  stdins.push(r.env.__stdin ?? '')
  return r.cmd.some((a) => a.includes('fail')) ? { stdout: 'working\n', stderr: 'it broke\n', exitCode: 2 } : { stdout: `ran ${r.cmd.at(-1)}\n` }
}

const deps = (): TemplateDeps => ({
  db: store.db,
  runtime,
  clock: { now: () => Date.parse('2026-01-01T00:00:00Z') },
  log: silentLogger,
  usage: { liveSandboxesUsing: async (project, name) => live.get(`${project}/${name}`) ?? 0 },
  buildResources: { cpu: 1, memoryMb: 256, pids: 64, diskMb: 512 },
  imageStoreDir: '/nonexistent/images',
  uidBase: 100_000,
  registries: ['ghcr.io'],
})
const service = () => new TemplateService(deps())

beforeEach(async () => {
  store = await openStore(':memory:')
  runtime = new FakeRuntime(reply)
  live = new Map()
  stdins.length = 0
  svc = service()
})
afterEach(() => store.close())

const spec = (steps: unknown[], extra: Record<string, unknown> = {}) => BuildTemplateInput.parse({ name: 'app', steps, ...extra })
const threeSteps = [{ copy: { path: '/app/a.txt', content: 'hello' } }, { env: { MODE: 'test' } }, { run: 'echo step3' }]

describe('template builds', () => {
  it('builds a layer per copy/run step, no layer for env, and leaves no build sandbox', async () => {
    const t = await svc.build(me, spec(threeSteps))
    expect(t.layers.map((l) => l.step)).toEqual([0, 2])
    expect(t.lastBuild).toMatchObject({ state: 'ready', cachedSteps: 0, builtSteps: 2 })
    expect(t.env).toEqual({ MODE: 'test' })
    expect(t.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(runtime.sandboxes.size).toBe(0)
    expect(runtime.snapshotRefs.size).toBe(2)
    // The copy wrote the exact bytes through stdin, as root; the run saw the env of the step before it.
    const copy = runtime.execs[0]!
    expect(copy).toMatchObject({ user: 'root', cmd: expect.arrayContaining(['/app/a.txt', '644']) })
    expect(stdins[0]).toBe('hello')
    expect(runtime.execs[1]).toMatchObject({ cmd: ['/bin/sh', '-c', 'echo step3'], env: expect.objectContaining({ MODE: 'test' }) })
  })

  it('rebuilds an unchanged template as a cache hit: no sandbox, no exec, same digest', async () => {
    const first = await svc.build(me, spec(threeSteps))
    const execs = runtime.execs.length
    const again = await svc.build(me, spec(threeSteps))
    expect(runtime.execs.length).toBe(execs)
    expect(again.digest).toBe(first.digest)
    expect(again.lastBuild).toMatchObject({ cachedSteps: 2, builtSteps: 0 })
  })

  it('a changed step rebuilds from that step on, reusing the layers below', async () => {
    const first = await svc.build(me, spec(threeSteps))
    runtime.execs.length = 0
    const changed = await svc.build(me, spec([threeSteps[0], { env: { MODE: 'prod' } }, threeSteps[2]]))
    expect(changed.lastBuild).toMatchObject({ cachedSteps: 1, builtSteps: 1 })
    expect(changed.layers[0]!.key).toBe(first.layers[0]!.key)
    expect(changed.layers[1]!.key).not.toBe(first.layers[1]!.key)
    expect(runtime.execs.map((e) => e.cmd.at(-1))).toEqual(['echo step3'])
    // The rebuilt step started on top of the cached layer.
    expect(changed.digest).not.toBe(first.digest)
  })

  it('a failing step names the step and its output, leaves no layer for it, no sandbox, and no template', async () => {
    const err = await svc.build(me, spec([{ copy: { path: '/x', content: 'x' } }, { run: ['sh', '-c', 'fail now'] }])).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_request', details: [{ path: 'steps.1' }] })
    expect((err as Error).message).toMatch(/step 2 \(run\) exited with 2; output tail:\n(working\nit broke|it broke\nworking)/)
    expect(runtime.sandboxes.size).toBe(0)
    expect(runtime.snapshotRefs.size).toBe(1) // step 0's layer stays as cache, step 1 has none
    await expect(svc.get('p1', 'app')).rejects.toMatchObject({ code: 'not_found' })
    await expect(svc.resolve('p1', 'app')).rejects.toMatchObject({ code: 'invalid_request', details: [{ path: 'template' }] })
    // A restart collects the failed build's cache too: nothing is left.
    expect(await service().reconcile()).toMatchObject({ layers: 1 })
    expect(runtime.snapshotRefs.size).toBe(0)
  })

  it('a command that cannot start fails the build naming the step, and leaves no sandbox', async () => {
    const { RuntimeError } = await import('../runtime/local/runtime-error.js')
    const broken = new FakeRuntime(reply)
    broken.exec = () => {
      throw new RuntimeError('invalid_request', 'cwd /nope does not exist in the sandbox')
    }
    runtime = broken
    svc = service()
    const err = await svc.build(me, spec([{ workdir: '/nope' }, { run: 'true' }])).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('step 2 (run) could not start: cwd /nope'), details: [{ path: 'steps.1' }] })
    expect(runtime.sandboxes.size).toBe(0)
    expect(runtime.snapshotRefs.size).toBe(0)
  })

  it('a cancelled build stops between steps, writes no template and leaves no sandbox', async () => {
    const ac = new AbortController()
    const err = await svc.build(me, spec(threeSteps), { signal: ac.signal, onProgress: (e) => e.phase === 'snapshot' && ac.abort() }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'conflict', message: expect.stringContaining('cancelled before step 2') })
    expect(runtime.execs).toHaveLength(1)
    expect(runtime.sandboxes.size).toBe(0)
    await expect(svc.get('p1', 'app')).rejects.toMatchObject({ code: 'not_found' })
  })

  it('resolves to the exact layer stack with the template defaults', async () => {
    await svc.build(me, spec(threeSteps, { workdir: '/app', user: 'user', start: 'node server.js', ready: { cmd: 'curl -f localhost:3000' }, resources: { memoryMb: 1024 } }))
    const r = await svc.resolve('p1', 'app')
    // The last layer's snapshot holds every step's changes: the sandbox's writable layer starts as it.
    expect(r.spec).toEqual({ name: 'app', rootfs: 'host' })
    expect(r.fromSnapshot).toBe([...runtime.snapshotRefs.keys()].at(-1))
    expect(r.ref.layers).toHaveLength(2)
    expect(r).toMatchObject({
      env: { MODE: 'test' },
      workdir: '/app',
      user: 'user',
      start: { cmd: ['/bin/sh', '-c', 'node server.js'], ready: { cmd: ['/bin/sh', '-c', 'curl -f localhost:3000'], timeoutMs: 30_000, intervalMs: 200 } },
      resources: { memoryMb: 1024 },
    })
    expect(await svc.resolve('p1', 'default')).toMatchObject({ spec: { name: 'default', rootfs: 'host' }, ref: { layers: [] } })
  })

  it("runs a template's run steps with egress under its network policy (copies offline), and resolves the level", async () => {
    const calls: string[] = []
    const network: NetworkSeam = {
      attach: async (sbx, ip, policy) => void calls.push(`attach ${sbx.projectId} ${JSON.stringify(sbx.templatePolicy)} ${ip} ${policy === undefined}`),
      detach: async (id) => void calls.push(`detach ${id.slice(0, 4)}`),
      proxyEnv: () => ({ HTTP_PROXY: 'http://10.200.0.1:3128' }),
      caCertificatePem: () => undefined,
    }
    svc = new TemplateService({ ...deps(), network })
    const policy = { allowedDomains: ['registry.npmjs.org'], deniedDomains: [] }
    const t = await svc.build(me, spec(threeSteps, { network: policy }))
    expect(t.network).toEqual(policy)
    expect(calls).toEqual([`attach p1 ${JSON.stringify(policy)} 10.200.0.2 true`, 'detach tpb_'])
    expect(runtime.execs[0]!.env).not.toHaveProperty('HTTP_PROXY') // the copy
    expect(runtime.execs[1]!.env).toMatchObject({ HTTP_PROXY: 'http://10.200.0.1:3128', MODE: 'test' })
    expect(runtime.sandboxes.size).toBe(0)
    expect((await svc.resolve('p1', 'app')).network).toEqual(policy)
    // The same steps without the policy are other layers (other keys): the run step's layer differs.
    const offline = await service().build(me, spec(threeSteps, { name: 'app2' }))
    expect(offline.layers[0]!.key).toBe(t.layers[0]!.key)
    expect(offline.layers[1]!.key).not.toBe(t.layers[1]!.key)
  })

  it('refuses a network policy where no egress proxy is wired, building nothing', async () => {
    await expect(svc.build(me, spec(threeSteps, { network: { allowedDomains: ['a.test'] } }))).rejects.toMatchObject({ code: 'invalid_request', details: [{ path: 'network' }] })
    expect(runtime.execs).toHaveLength(0)
  })

  it('keeps templates per project', async () => {
    await svc.build(me, spec(threeSteps))
    await expect(svc.resolve('p2', 'app')).rejects.toMatchObject({ code: 'invalid_request' })
    const other = await svc.build({ project: 'p2', admin: false }, spec(threeSteps))
    // Same steps, another project: its own layers (a project never probes another's cache).
    expect(other.lastBuild).toMatchObject({ builtSteps: 2 })
  })

  it('refuses a rootfs base without admin, and the built-in name', async () => {
    await expect(svc.build(me, spec([], { base: { rootfs: '/srv/root' } }))).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(svc.build(me, spec([], { base: { image: { kind: 'layout', path: '/srv/oci' } } }))).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(svc.build(me, BuildTemplateInput.parse({ name: 'default' }))).rejects.toMatchObject({ code: 'invalid_request' })
    // An allowed registry is open to sandboxes:write, and says clearly when no importer is wired; any
    // other (loopback, private: the server would probe it for the token) needs admin.
    await expect(svc.build(me, spec([], { base: { image: { kind: 'registry', image: 'ghcr.io/org/x:1' } } }))).rejects.toMatchObject({ code: 'runtime_unavailable' })
    for (const image of ['127.0.0.1:5000/x:1', '10.0.0.7/x:1', 'metadata.internal:80/x', 'localhost/x'])
      await expect(svc.build(me, spec([], { base: { image: { kind: 'registry', image } } }))).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(svc.build({ ...me, admin: true }, spec([], { base: { image: { kind: 'registry', image: '127.0.0.1:5000/x:1' } } }))).rejects.toMatchObject({ code: 'runtime_unavailable' })
    expect(runtime.sandboxes.size).toBe(0)
  })

  it('a runtime without snapshots refuses layer steps but builds metadata-only templates', async () => {
    const bare = new FakeRuntime(reply)
    Object.defineProperty(bare, 'snapshots', { value: undefined })
    runtime = bare
    svc = service()
    await expect(svc.build(me, spec(threeSteps))).rejects.toMatchObject({ code: 'runtime_unavailable', details: [{ path: 'steps.0' }] })
    const t = await svc.build(me, spec([{ env: { A: '1' } }, { workdir: '/w' }]))
    expect(t).toMatchObject({ layers: [], env: { A: '1' }, workdir: '/w' })
  })

  it('noCache rebuilds every step into new layers, leaving the cached ones to the templates using them', async () => {
    const first = await svc.build(me, spec(threeSteps))
    const fresh = await svc.build(me, spec(threeSteps, { noCache: true }))
    expect(fresh.lastBuild).toMatchObject({ builtSteps: 2, cachedSteps: 0 })
    expect(fresh.layers[0]!.key).not.toBe(first.layers[0]!.key)
  })
})

describe('template delete, list and inspect', () => {
  it('is refused while live sandboxes use it, then deletes the layers only it used, idempotently', async () => {
    await svc.build(me, spec(threeSteps))
    await svc.build(me, BuildTemplateInput.parse({ name: 'other', steps: [threeSteps[0]] }))
    live.set('p1/app', 2)
    await expect(svc.delete('p1', 'app')).rejects.toMatchObject({ code: 'conflict', details: { inUseBy: 2 } })
    expect((await svc.get('p1', 'app')).usedBy).toBe(2)
    live.clear()
    await svc.delete('p1', 'app')
    // The copy layer is shared with "other" (same key): it stays; the run layer goes.
    expect(runtime.snapshotRefs.size).toBe(1)
    await svc.delete('p1', 'app')
    await expect(svc.get('p1', 'app')).rejects.toMatchObject({ code: 'not_found' })
    await svc.delete('p1', 'other')
    expect(runtime.snapshotRefs.size).toBe(0)
    await expect(svc.delete('p1', 'default')).rejects.toMatchObject({ code: 'invalid_request' })
  })

  it('lists the built-in template with the project’s, in name order, paginated', async () => {
    for (const name of ['alpha', 'zeta', 'mid']) await svc.build(me, BuildTemplateInput.parse({ name }))
    const first = await svc.list('p1', { limit: 2 })
    expect(first.items.map((t) => t.name)).toEqual(['alpha', 'default'])
    expect(first.nextToken).toBeDefined()
    const { decodeCursor } = await import('../kit/cursor.js')
    const second = await svc.list('p1', { limit: 2, after: decodeCursor(first.nextToken) })
    expect(second.items.map((t) => t.name)).toEqual(['mid', 'zeta'])
    expect(second.nextToken).toBeUndefined()
    expect((await svc.list('p2', { limit: 10 })).items.map((t) => t.name)).toEqual(['default'])
  })

  it('inspects layers with digests and sizes and keeps the build log tail', async () => {
    const t = await svc.build(me, spec(threeSteps))
    const got = await svc.get('p1', 'app')
    expect(got.layers).toEqual(t.layers)
    expect(got.layers[0]).toMatchObject({ digest: `sha256:${got.layers[0]!.key}`, bytes: 0, exclusiveBytes: 0 })
    expect(got.buildLog).toContain('ran echo step3')
    const log = await svc.buildLog('p1', 'app', t.lastBuild!.id)
    expect(log.state).toBe('ready')
    await expect(svc.buildLog('p2', 'app', t.lastBuild!.id)).rejects.toMatchObject({ code: 'not_found' })
  })
})

describe('restart during a build', () => {
  it('reconcile marks the build failed, destroys its sandbox and removes snapshots without a layer row', async () => {
    // What a crash mid-build leaves: a running build row, its build sandbox, an unrecorded capture.
    await store.db
      .withTables<{ template_builds: Record<string, unknown> }>()
      .insertInto('template_builds')
      .values({ id: 'tbld_x', project: 'p1', name: 'app', state: 'building', started_at: '2026-01-01T00:00:00.000Z', finished_at: null, cached_steps: 0, built_steps: 0, error: null, log: '[]' })
      .execute()
    const ref = await runtime.start({ id: 'tpb_leftover', template: { name: 'app', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })
    await runtime.snapshots.create(ref, 'tpl_halfdone')
    await runtime.start({ id: 'sbx_keepme', template: { name: 'default', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })
    await runtime.snapshots.create({ id: 'sbx_keepme', pid: 1, startTime: 1 }, 'snap_user')
    expect(await svc.reconcile()).toEqual({ interrupted: 1, sandboxes: 1, layers: 0, snapshots: 1 })
    expect([...runtime.sandboxes.keys()]).toEqual(['sbx_keepme'])
    expect([...runtime.snapshotRefs.keys()]).toEqual(['snap_user'])
    await expect(svc.get('p1', 'app')).rejects.toMatchObject({ code: 'not_found' })
  })
})
