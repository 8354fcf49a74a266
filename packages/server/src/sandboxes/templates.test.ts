import { afterEach, describe, expect, it } from 'vitest'
import { AppError } from '../core/errors.js'
import { FakeRuntime } from '../runtime/fake.js'
import type { ExecRequest } from '../runtime/runtime.js'
import type { ResolvedTemplate } from '../kit/template-seam.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'
import { CommandService } from './commands.js'
import { SandboxService } from './sandboxes.js'
import { builtInTemplates } from './templates.js'

let tp: TestPlane
let runtime: FakeRuntime
afterEach(() => tp?.dispose())
const json = async (r: Response) => (await r.json()) as Record<string, any>

const node: ResolvedTemplate = {
  spec: { name: 'node', rootfs: '/nonexistent/rootfs', layers: ['/nonexistent/l1', '/nonexistent/l2'] },
  ref: { name: 'node', digest: 'sha256:abc', layers: ['sha256:l1', 'sha256:l2'] },
  env: { NODE_ENV: 'test', SHARED: 'template' },
  workdir: '/app',
  user: 'root',
  start: { cmd: ['server'], ready: { cmd: ['probe'], timeoutMs: 2_000, intervalMs: 5 } },
  resources: { memoryMb: 64 },
}

/** A plane whose sandbox service resolves `node` (and the built-ins), as main.ts does with the templates area's resolver. */
async function plane(reply: (req: ExecRequest) => { exitCode?: number; stdout?: string }) {
  runtime = new FakeRuntime(reply)
  tp = await testPlane(runtime)
  const { store, config, clock, log, events, audit } = tp.svc
  const templates = { resolve: async (project: string, name: string) => (name === 'node' ? node : builtInTemplates.resolve(project, name)) }
  tp.svc.sandboxes = new SandboxService({ db: store.db, runtime, config, clock, log, events, audit, templates })
  tp.svc.commands = new CommandService({ runtime, sandboxes: tp.svc.sandboxes, events, config, clock })
}

describe('templates applied at create', () => {
  it('spec to the runtime, env under the create envs, workdir and user as exec defaults, start in the background, ready polled, ref recorded', async () => {
    let probes = 0
    await plane((req) => (req.cmd[0] === 'probe' ? { exitCode: ++probes < 3 ? 1 : 0 } : { stdout: `${req.cmd.join(' ')}\n` }))
    const r = await tp.call('POST', '/v1/sandboxes', { body: { template: 'node', envs: { SHARED: 'mine' } } })
    expect(r.status).toBe(201)
    const sbx = await json(r)
    expect(sbx).toMatchObject({ template: 'node', templateDigest: 'sha256:abc', envKeys: ['NODE_ENV', 'SHARED'], resources: { memoryMb: 64 } })
    expect(runtime.sandboxes.get(sbx.id)!.spec.template).toEqual(node.spec)
    const start = runtime.execs.find((e) => e.cmd[0] === 'server')!
    expect(start).toMatchObject({ detached: true, cwd: '/app', user: 'root' })
    expect(probes).toBe(3)
    await tp.call('POST', `/v1/sandboxes/${sbx.id}/exec`, { body: { cmd: ['env'] } })
    const exec = runtime.execs.at(-1)!
    expect(exec).toMatchObject({ cwd: '/app', user: 'root' })
    expect(exec.env).toMatchObject({ NODE_ENV: 'test', SHARED: 'mine', HOME: '/root' })
    await tp.call('POST', `/v1/sandboxes/${sbx.id}/exec`, { body: { cmd: ['id'], user: 'user', cwd: '/tmp' } })
    expect(runtime.execs.at(-1)).toMatchObject({ cwd: '/tmp', user: 'user' })
    expect(await tp.svc.sandboxes.liveSandboxesUsing('default', 'node')).toBe(1)
    expect(await tp.svc.sandboxes.liveSandboxesUsing('default', 'default')).toBe(0)
    expect(await tp.svc.sandboxes.liveSandboxesUsing('other', 'node')).toBe(0)
    await tp.call('DELETE', `/v1/sandboxes/${sbx.id}`)
    expect(await tp.svc.sandboxes.liveSandboxesUsing('default', 'node')).toBe(0)
  })

  it('a ready check that never passes fails the create within its timeout and leaves nothing', async () => {
    await plane((req) => (req.cmd[0] === 'probe' ? { exitCode: 7 } : {}))
    node.start!.ready!.timeoutMs = 30
    const r = await tp.call('POST', '/v1/sandboxes', { body: { template: 'node' } })
    node.start!.ready!.timeoutMs = 2_000
    expect(r.status).toBe(400)
    expect((await json(r)).error.message).toMatch(/^template node: its ready check \(probe\) did not exit 0 within 30 ms \(\d+ checks, last exit 7\)/)
    expect(runtime.sandboxes.size).toBe(0)
    expect((await json(await tp.call('GET', '/v1/sandboxes'))).items).toEqual([])
  })

  it('the built-in resolver: default (and base) with a stable digest; an unknown name is invalid_request on template', async () => {
    const a = await builtInTemplates.resolve('p', 'default')
    expect(a).toMatchObject({ spec: { name: 'default', rootfs: 'host' }, ref: { name: 'default', layers: [] }, env: {} })
    expect(a.ref.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect((await builtInTemplates.resolve('q', 'base')).ref.digest).toBe(a.ref.digest)
    const err = await builtInTemplates.resolve('p', 'nope').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect(err).toMatchObject({ code: 'invalid_request', details: [{ path: 'template' }] })
  })
})
