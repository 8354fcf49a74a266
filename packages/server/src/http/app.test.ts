import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let runtime: FakeRuntime

beforeEach(async () => {
  runtime = new FakeRuntime((r) => (r.cmd[0] === 'fail' ? { stderr: 'boom\n', exitCode: 3 } : { stdout: `${r.cmd.join(' ')}\n` }))
  tp = await testPlane(runtime, { quotas: { default: { sandboxes: 3, memoryMb: 4096, cpu: 2 }, projects: {} } })
})
afterEach(() => tp.dispose())

const create = async (body: unknown = {}, token?: string) => tp.call('POST', '/v1/sandboxes', { body, ...(token ? { token } : {}) })
const json = async (r: Response) => (await r.json()) as Record<string, any>

describe('HTTP API', () => {
  it('serves /healthz and /openapi.json without a token', async () => {
    expect((await tp.call('GET', '/healthz', { token: null })).status).toBe(200)
    const doc = await json(await tp.call('GET', '/openapi.json', { token: null }))
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.paths['/v1/sandboxes'].post.operationId).toBe('createSandbox')
    expect(doc.paths['/v1/sandboxes/{id}/exec'].post.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      properties: { cmd: expect.any(Object) },
      required: expect.arrayContaining(['cmd']),
    })
  })

  it('refuses missing and wrong tokens with 401 and a stable code', async () => {
    const none = await tp.call('GET', '/v1/sandboxes', { token: null })
    expect(none.status).toBe(401)
    expect((await json(none)).error.code).toBe('unauthenticated')
    const wrong = await tp.call('GET', '/v1/sandboxes', { token: 'tp_nope' })
    expect(wrong.status).toBe(401)
    expect((await json(wrong)).error.requestId).toMatch(/^req_/)
  })

  it('rejects bad input with the field, the rule and the value, and creates nothing', async () => {
    const unknown = await json(await create({ tempalte: 'default' }))
    expect(unknown.error.code).toBe('invalid_request')
    expect(unknown.error.message).toMatch(/unknown field\(s\) tempalte/)
    const negative = await json(await create({ resources: { memoryMb: -5 } }))
    expect(negative.error.details[0].path).toBe('resources.memoryMb')
    expect(negative.error.message).toMatch(/got -5/)
    const huge = await json(await create({ timeoutMs: 10 ** 12 }))
    expect(huge.error.message).toMatch(/timeoutMs must be at most 86400000/)
    const wrongType = await json(await create({ metadata: 'x' }))
    expect(wrongType.error.details[0].path).toBe('metadata')
    const template = await create({ template: 'nope' })
    expect(template.status).toBe(400)
    expect((await json(template)).error.message).toMatch(/template "nope" does not exist/)
    const badJson = await tp.call('POST', '/v1/sandboxes', { raw: '{"a":', headers: { 'content-type': 'application/json' } })
    expect((await json(badJson)).error.message).toMatch(/not valid JSON/)
    expect(runtime.sandboxes.size).toBe(0)
    expect((await json(await tp.call('GET', '/v1/sandboxes'))).items).toHaveLength(0)
  })

  it('creates, gets, lists with metadata filter and pagination, and deletes idempotently', async () => {
    const ids: string[] = []
    for (const team of ['a', 'b', 'a']) {
      const r = await create({ metadata: { team }, resources: { memoryMb: 256, cpu: 0.5 } })
      expect(r.status).toBe(201)
      const s = await json(r)
      expect(s.state).toBe('running')
      expect(s.reason).toBe('created')
      ids.push(s.id)
    }
    const filtered = await json(await tp.call('GET', '/v1/sandboxes?metadata.team=a'))
    expect(filtered.items.map((s: { id: string }) => s.id).sort()).toEqual([ids[0], ids[2]].sort())
    const page1 = await json(await tp.call('GET', '/v1/sandboxes?limit=2'))
    expect(page1.items).toHaveLength(2)
    const page2 = await json(await tp.call('GET', `/v1/sandboxes?limit=2&nextToken=${page1.nextToken}`))
    expect(page2.items).toHaveLength(1)
    expect(page2.nextToken).toBeUndefined()
    expect((await tp.call('DELETE', `/v1/sandboxes/${ids[0]}`)).status).toBe(204)
    expect((await tp.call('DELETE', `/v1/sandboxes/${ids[0]}`)).status).toBe(204)
    const gone = await json(await tp.call('GET', `/v1/sandboxes/${ids[0]}`))
    expect(gone.state).toBe('stopped')
    expect(gone.reason).toBe('killed_by_user')
    expect(runtime.sandboxes.has(ids[0]!)).toBe(false)
  })

  it('scopes tokens to their project (foreign sandbox is 404) and to their scopes (403)', async () => {
    const mine = await json(await create())
    const other = await json(await tp.call('POST', '/v1/tokens', { body: { project: 'other', scopes: ['sandboxes:write', 'sandboxes:read'] } }))
    expect(other.token).toMatch(/^tp_/)
    expect((await tp.call('GET', `/v1/sandboxes/${mine.id}`, { token: other.token })).status).toBe(404)
    expect((await tp.call('DELETE', `/v1/sandboxes/${mine.id}`, { token: other.token })).status).toBe(404)
    expect((await json(await tp.call('GET', '/v1/sandboxes', { token: other.token }))).items).toHaveLength(0)
    const reader = await json(await tp.call('POST', '/v1/tokens', { body: { project: 'default', scopes: ['sandboxes:read'] } }))
    const denied = await create({}, reader.token)
    expect(denied.status).toBe(403)
    expect((await json(denied)).error.message).toMatch(/needs scope sandboxes:write/)
    expect((await tp.call('POST', '/v1/tokens', { token: reader.token, body: { project: 'x', scopes: ['admin'] } })).status).toBe(403)
    // Revocation takes effect at once (the auth cache is cleared), and revoking again is fine.
    expect((await tp.call('GET', '/v1/sandboxes', { token: other.token })).status).toBe(200)
    expect((await tp.call('DELETE', `/v1/tokens/${other.id}`)).status).toBe(204)
    expect((await tp.call('DELETE', `/v1/tokens/${other.id}`)).status).toBe(204)
    expect((await tp.call('GET', '/v1/sandboxes', { token: other.token })).status).toBe(401)
  })

  it('refuses over-quota creates with 429, Retry-After and the figures, before creating anything', async () => {
    for (let i = 0; i < 3; i++) expect((await create({ resources: { memoryMb: 128, cpu: 0.1 } })).status).toBe(201)
    const r = await create({ resources: { memoryMb: 128, cpu: 0.1 } })
    expect(r.status).toBe(429)
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0)
    const body = await json(r)
    expect(body.error.code).toBe('quota_exceeded')
    expect(body.error.details).toMatchObject({ scope: 'project:default:sandboxes', limit: 3, used: 3 })
    expect(runtime.sandboxes.size).toBe(3)
    const mem = await json(await tp.call('PATCH', `/v1/sandboxes/${(await json(await tp.call('GET', '/v1/sandboxes'))).items[0].id}`, { body: { resources: { memoryMb: 8192 } } }))
    expect(mem.error.code).toBe('quota_exceeded')
    expect(mem.error.details.scope).toBe('project:default:memoryMb')
  })

  it('runs commands buffered and streamed (NDJSON)', async () => {
    const s = await json(await create({ envs: { SECRET: 'hunter2' } }))
    const r = await json(await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['echo', 'hi'] } }))
    expect(r).toMatchObject({ exitCode: 0, stdout: 'echo hi\n', timedOut: false, truncated: false })
    const failed = await json(await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['fail'] } }))
    expect(failed).toMatchObject({ exitCode: 3, stderr: 'boom\n' })
    expect(runtime.execs[0]!.env.SECRET).toBe('hunter2')
    const streamed = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: 'ls /' }, headers: { accept: 'application/x-ndjson' } })
    expect(streamed.headers.get('content-type')).toBe('application/x-ndjson')
    const lines = (await streamed.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines[0]).toEqual({ stream: 'stdout', data: '/bin/sh -c ls /\n' })
    expect(lines.at(-1)).toMatchObject({ exitCode: 0, stdoutBytes: 16 })
    // A background command streamed: its pid first, then its output and result, and it stays listed.
    const bg = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: 'echo bg', background: true }, headers: { accept: 'application/x-ndjson' } })
    const bgLines = (await bg.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(bgLines[0]).toEqual({ pid: expect.any(Number) })
    expect(bgLines.at(-1)).toMatchObject({ exitCode: 0 })
    const listed = await json(await tp.call('GET', `/v1/sandboxes/${s.id}/commands`))
    expect(listed.items.map((c: { pid: number }) => c.pid)).toContain(bgLines[0].pid)
  })

  it('resizes only a pty command, signals only a running one, and refuses a pty without background', async () => {
    const s = await json(await create())
    const noBg = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['bash'], pty: { cols: 80, rows: 24 } } })
    expect(noBg.status).toBe(400)
    expect((await json(noBg)).error.message).toMatch(/pty needs background/)
    const noStdin = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['bash'], pty: { cols: 80, rows: 24 }, background: true } })
    expect((await json(noStdin)).error.message).toMatch(/pty needs keepStdin/)
    const cat = await json(await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['cat'], background: true, keepStdin: true } }))
    const resize = await tp.call('POST', `/v1/sandboxes/${s.id}/commands/${cat.pid}/resize`, { body: { cols: 100, rows: 30 } })
    expect(resize.status).toBe(409)
    expect((await json(resize)).error.message).toMatch(/does not run on a pty/)
    const badSignal = await tp.call('POST', `/v1/sandboxes/${s.id}/commands/${cat.pid}/signal`, { body: { signal: 'SIGSEGV' } })
    expect(badSignal.status).toBe(400)
    await tp.call('POST', `/v1/sandboxes/${s.id}/commands/${cat.pid}/stdin`, { body: { eof: true } })
    await tp.call('POST', `/v1/sandboxes/${s.id}/commands/${cat.pid}/wait`, { body: {} })
    const late = await tp.call('POST', `/v1/sandboxes/${s.id}/commands/${cat.pid}/signal`, { body: { signal: 'SIGTERM' } })
    expect(late.status).toBe(409)
    expect((await json(late)).error.message).toMatch(/has exited/)
  })

  it('audits changes with secrets redacted, and verify detects tampering', async () => {
    const s = await json(await create({ envs: { TOKEN: 'supersecret' } }))
    await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['true'], envs: { PASSWORD: 'p@ss' } } })
    await create({ bogus: 1 })
    const audit = await json(await tp.call('GET', '/v1/audit'))
    const actions = audit.items.map((r: { action: string; outcome: string }) => `${r.action}:${r.outcome}`)
    expect(actions).toEqual(['createSandbox:ok', 'exec:ok', 'createSandbox:invalid_request'])
    expect(JSON.stringify(audit)).not.toMatch(/supersecret|p@ss/)
    expect(audit.items[0].data.envs).toEqual({ TOKEN: '[redacted]' })
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).ok).toBe(true)
    tp.svc.store.sqlite!.prepare("update audit set outcome = 'ok' where seq = 3").run()
    const broken = await json(await tp.call('POST', '/v1/audit/verify'))
    expect(broken.ok).toBe(false)
    expect(broken.problems[0]).toMatchObject({ seq: 3, problem: expect.stringMatching(/edited/) })
    tp.svc.store.sqlite!.prepare('delete from audit where seq = 2').run()
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).problems.map((p: { problem: string }) => p.problem).join()).toMatch(/removed/)
  })

  it('expires sandboxes per lifecycle: kill, or pause then auto-resume on exec', async () => {
    const small = { resources: { cpu: 0.5 } }
    const killed = await json(await create({ ...small, timeoutMs: 1000 }))
    const paused = await json(await create({ ...small, timeoutMs: 5000, lifecycle: { onTimeout: 'pause', autoResume: true } }))
    const extended = await json(await create({ ...small, timeoutMs: 1000 }))
    await tp.call('PATCH', `/v1/sandboxes/${extended.id}`, { body: { timeoutMs: 60_000 } })
    tp.clock.advance(10_000)
    expect(await tp.svc.sandboxes.reapExpired()).toBe(2)
    expect(await json(await tp.call('GET', `/v1/sandboxes/${killed.id}`))).toMatchObject({ state: 'stopped', reason: 'timeout' })
    expect(await json(await tp.call('GET', `/v1/sandboxes/${paused.id}`))).toMatchObject({ state: 'paused', reason: 'timeout' })
    expect((await json(await tp.call('GET', `/v1/sandboxes/${extended.id}`))).state).toBe('running')
    const r = await json(await tp.call('POST', `/v1/sandboxes/${paused.id}/exec`, { body: { cmd: ['true'] } }))
    expect(r.exitCode).toBe(0)
    expect(await json(await tp.call('GET', `/v1/sandboxes/${paused.id}`))).toMatchObject({ state: 'running', reason: 'auto_resumed' })
    const events = await json(await tp.call('GET', `/v1/sandboxes/${paused.id}/events`))
    expect(events.items.map((e: { data: { reason?: string } }) => e.data.reason).filter(Boolean)).toEqual(['created', 'timeout', 'auto_resumed'])
  })

  it('retention: a sandbox stopped longer than retention.stoppedSandboxesHours goes with its events; the audit log stays', async () => {
    const small = { resources: { cpu: 0.5 } } // three fit the quota of this file's plane
    const old = await json(await create(small))
    const recent = await json(await create(small))
    const live = await json(await create(small))
    await tp.call('POST', `/v1/sandboxes/${old.id}/exec`, { body: { cmd: ['true'] } })
    await tp.svc.commands.flush()
    await tp.call('DELETE', `/v1/sandboxes/${old.id}`)
    tp.clock.advance(160 * 3_600_000) // the default keeps stopped sandboxes 168 hours
    await tp.call('DELETE', `/v1/sandboxes/${recent.id}`)
    expect(await tp.svc.sandboxes.pruneStopped()).toBe(0)
    tp.clock.advance(9 * 3_600_000)
    expect(await tp.svc.sandboxes.pruneStopped()).toBe(1)
    expect((await tp.call('GET', `/v1/sandboxes/${old.id}`)).status).toBe(404)
    expect(tp.svc.store.sqlite!.prepare('select count(*) as n from events where sandbox_id = ?').get(old.id)).toEqual({ n: 0 })
    expect((await json(await tp.call('GET', `/v1/sandboxes/${recent.id}`))).state).toBe('stopped')
    tp.clock.advance(1000 * 3_600_000)
    expect((await json(await tp.call('GET', `/v1/sandboxes/${live.id}`))).state).toBe('running') // never a live one
    const audit = await json(await tp.call('GET', `/v1/audit?target=${old.id}`))
    expect(audit.items.map((a: { action: string }) => a.action)).toEqual(['createSandbox', 'exec', 'deleteSandbox'])
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).ok).toBe(true)
  })

  it('retention 0 keeps stopped sandboxes forever', async () => {
    const keep = await testPlane(new FakeRuntime(), { retention: { stoppedSandboxesHours: 0 } })
    try {
      const s = await json(await keep.call('POST', '/v1/sandboxes', { body: {} }))
      await keep.call('DELETE', `/v1/sandboxes/${s.id}`)
      keep.clock.advance(100_000 * 3_600_000)
      expect(await keep.svc.sandboxes.pruneStopped()).toBe(0)
      expect((await json(await keep.call('GET', `/v1/sandboxes/${s.id}`))).state).toBe('stopped')
    } finally {
      await keep.dispose()
    }
  })

  it('a paused sandbox without autoResume refuses exec with conflict', async () => {
    const s = await json(await create())
    await tp.call('POST', `/v1/sandboxes/${s.id}/pause`)
    const r = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['true'] } })
    expect(r.status).toBe(409)
    expect((await json(r)).error.message).toMatch(/is paused; resume it first/)
  })

  it('a failed runtime start leaves no record behind', async () => {
    runtime.failNextStart = new Error('no cgroups here')
    const r = await create()
    expect(r.status).toBe(500)
    expect((await json(r)).error.message).not.toMatch(/cgroups/)
    expect((await json(await tp.call('GET', '/v1/sandboxes?state=starting'))).items).toHaveLength(0)
    expect((await json(await tp.call('GET', '/v1/sandboxes'))).items).toHaveLength(0)
  })
})
