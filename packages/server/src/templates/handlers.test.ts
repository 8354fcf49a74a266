import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let runtime: FakeRuntime

beforeEach(async () => {
  runtime = new FakeRuntime((r) => (r.cmd.some((a) => a.includes('fail')) ? { stderr: 'nope\n', exitCode: 1 } : { stdout: 'ok\n' }))
  tp = await testPlane(runtime)
})
afterEach(() => tp.dispose())

const json = async (r: Response) => (await r.json()) as Record<string, any>
const build = (body: unknown, opts: { token?: string; headers?: Record<string, string> } = {}) => tp.call('POST', '/v1/templates', { body, ...opts })
const writer = async () => {
  const r = await json(await tp.call('POST', '/v1/tokens', { body: { name: 'w', project: 'p1', scopes: ['sandboxes:read', 'sandboxes:write'] } }))
  return r.token as string
}

describe('templates over HTTP', () => {
  it('builds (201), lists, inspects, deletes (204, idempotent), every change audited', async () => {
    const r = await build({ name: 'web', steps: [{ copy: { path: '/srv/index.html', content: Buffer.from('<h1>hi</h1>').toString('base64'), encoding: 'base64', mode: 0o600 } }, { run: ['true'] }] })
    expect(r.status).toBe(201)
    const t = await json(r)
    expect(t).toMatchObject({ name: 'web', builtIn: false, layers: [{ step: 0 }, { step: 1 }] })
    expect(runtime.execs[0]!.cmd).toContain('600')
    const list = await json(await tp.call('GET', '/v1/templates?limit=10'))
    expect(list.items.map((x: { name: string }) => x.name)).toEqual(['default', 'web'])
    expect((await json(await tp.call('GET', '/v1/templates/web'))).layers).toHaveLength(2)
    expect((await tp.call('DELETE', '/v1/templates/web')).status).toBe(204)
    expect((await tp.call('DELETE', '/v1/templates/web')).status).toBe(204)
    expect((await tp.call('GET', '/v1/templates/web')).status).toBe(404)
    expect(runtime.snapshotRefs.size).toBe(0)
    const audit = await json(await tp.call('GET', '/v1/audit?limit=100'))
    const actions = audit.items.map((a: { action: string }) => a.action)
    expect(actions).toEqual(expect.arrayContaining(['buildTemplate', 'deleteTemplate']))
  })

  it('streams progress as NDJSON, ending with the template', async () => {
    const r = await build({ name: 's', steps: [{ run: 'echo hi' }] }, { headers: { accept: 'application/x-ndjson' } })
    expect(r.headers.get('content-type')).toContain('application/x-ndjson')
    const lines = (await r.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>)
    expect(lines.map((l) => l.phase ?? 'template')).toEqual(['resolve', 'start', 'output', 'snapshot', 'done', 'template'])
    expect(lines[2]).toEqual({ step: 0, of: 1, cached: false, phase: 'output', line: 'ok' })
    expect(lines.at(-1)!.template.name).toBe('s')
  })

  it('streams a failing step as an error line naming the step', async () => {
    const r = await build({ name: 'bad', steps: [{ run: 'fail' }] }, { headers: { accept: 'application/x-ndjson' } })
    const last = JSON.parse((await r.text()).trim().split('\n').at(-1)!) as Record<string, any>
    expect(last.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/step 1 \(run\) exited with 1; output tail:\nnope/) })
    expect(runtime.sandboxes.size).toBe(0)
  })

  it('refuses bad input with the field and changes nothing', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x', steps: [{ shell: 'ls' }] }, 'steps.0'],
      [{ name: 'x', steps: [{ copy: { path: '/a/../../etc/passwd', content: 'x' } }] }, 'steps.0.copy.path'],
      [{ name: 'x', steps: [{ copy: { path: 'relative', content: 'x' } }] }, 'steps.0.copy.path'],
      [{ name: 'x', steps: [{ copy: { path: '/big', content: 'a'.repeat(1_500_000) } }] }, 'steps.0.copy.content'],
      [{ name: '__proto__' }, 'name'],
      [{ name: 'constructor', extra: 1 }, '(body)'],
      [{ name: 'x', steps: [{ copy: { path: '/a', content: 'x' }, run: 'ls' }] }, 'steps.0'],
      [{ name: 'x', ready: { cmd: 'true' } }, 'ready'],
    ]
    for (const [body, path] of cases) {
      const r = await build(body)
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400)
      const e = (await json(r)).error
      expect(e.code).toBe('invalid_request')
      expect(e.details.map((d: { path: string }) => d.path)).toContain(path)
    }
    expect(runtime.execs).toHaveLength(0)
    expect((await json(await tp.call('GET', '/v1/templates'))).items).toHaveLength(1)
    expect((await tp.call('GET', '/v1/templates/__proto__')).status).toBe(400)
  })

  it('needs admin for a host-path base; sandboxes:write may build on the host', async () => {
    const token = await writer()
    const denied = await build({ name: 'r', base: { rootfs: '/' } }, { token })
    expect(denied.status).toBe(403)
    expect((await build({ name: 'h', base: { host: true } }, { token })).status).toBe(201)
    expect((await tp.call('GET', '/v1/templates', { token })).status).toBe(200)
  })

  it('an admin builds on a rootfs folder; an unchanged folder is a cache hit', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tp.home, 'rootfs-'))
    try {
      writeFileSync(join(dir, 'marker'), 'x')
      const a = await json(await build({ name: 'r', base: { rootfs: dir }, steps: [{ run: 'true' }] }))
      expect(a.base).toMatchObject({ kind: 'rootfs', source: dir })
      expect(a.rootfs).toBe(dir)
      const b = await json(await build({ name: 'r', base: { rootfs: dir }, steps: [{ run: 'true' }] }))
      expect(b.lastBuild).toMatchObject({ cachedSteps: 1, builtSteps: 0 })
      writeFileSync(join(dir, 'new-entry'), 'y')
      const c = await json(await build({ name: 'r', base: { rootfs: dir }, steps: [{ run: 'true' }] }))
      expect(c.lastBuild).toMatchObject({ cachedSteps: 0, builtSteps: 1 })
      expect((await build({ name: 'r2', base: { rootfs: join(dir, 'marker') } })).status).toBe(400)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
