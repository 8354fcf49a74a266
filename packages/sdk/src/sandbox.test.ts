import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ApiError } from './api-error.js'
import { createClient } from './client.js'
import { Sandbox } from './sandbox.js'
import { CommandExitError, CommandHandle, HeadTail } from './sandbox-commands.js'
import { sandboxInfo } from './sandbox.fixture.js'

interface Seen {
  method: string
  path: string
  query: [string, string][]
  headers: IncomingHttpHeaders
  body: Buffer
  json?: Record<string, unknown>
}
type Reply = { status?: number; json?: unknown; bytes?: Uint8Array; ndjson?: unknown[]; headers?: Record<string, string> }
type Route = (req: Seen) => Reply | Promise<Reply>

const SBX = 'sbx_k3j9x2m1q8w7'
const info = (over: Record<string, unknown> = {}) => sandboxInfo(SBX, over)
const result = (over: Record<string, unknown> = {}) => ({
  exitCode: 0,
  stdout: '',
  stderr: '',
  durationMs: 3,
  timedOut: false,
  oomKilled: false,
  truncated: false,
  stdoutBytes: 0,
  stderrBytes: 0,
  ...over,
})
const entry = (path: string, type = 'file') => ({ name: path.split('/').pop(), path, type, size: 2, mode: '0644', modifiedAt: '2026-01-01T00:00:00Z' })
const notFound = (message: string): Reply => ({ status: 404, json: { error: { code: 'not_found', message } } })

/** A real HTTP server faking the API: routes keyed by "METHOD /path" (query discriminators as "?list=1"). */
let routes: Record<string, Route> = {}
const seen: Seen[] = []
let baseUrl = ''
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const url = new URL(req.url ?? '/', 'http://x')
  const body = Buffer.concat(chunks)
  const rec: Seen = { method: req.method ?? '', path: url.pathname, query: [...url.searchParams], headers: req.headers, body }
  if (String(req.headers['content-type']).includes('json') && body.length) rec.json = JSON.parse(body.toString())
  seen.push(rec)
  const key = `${rec.method} ${rec.path}`
  const route = routes[url.searchParams.get('list') ? `${key}?list=1` : key]
  await send(res, route ? await route(rec) : { status: 404, json: { error: { code: 'not_found', message: `no fake route ${key}` } } })
})

async function send(res: ServerResponse, r: Reply) {
  if (r.ndjson) {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', ...r.headers })
    for (const line of r.ndjson) {
      res.write(`${JSON.stringify(line)}\n`)
      await new Promise((ok) => setTimeout(ok, 1))
    }
    res.end()
  } else if (r.bytes) {
    res.writeHead(r.status ?? 200, { 'content-type': 'application/octet-stream', ...r.headers })
    res.end(r.bytes)
  } else if (r.json === undefined) {
    res.writeHead(r.status ?? 204, r.headers)
    res.end()
  } else {
    res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers })
    res.end(JSON.stringify(r.json))
  }
}

const conn = () => ({ apiUrl: baseUrl, apiKey: 'tok_test' })
const find = (method: string, path: string) => seen.filter((r) => r.method === method && r.path === path)

beforeAll(async () => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(
  () =>
    new Promise<void>((ok) => {
      server.closeAllConnections()
      server.close(() => ok())
    }),
)
beforeEach(() => {
  seen.length = 0
  routes = {
    'POST /v1/sandboxes': () => ({ status: 201, json: info() }),
    [`GET /v1/sandboxes/${SBX}`]: () => ({ json: info() }),
    [`DELETE /v1/sandboxes/${SBX}`]: () => ({ status: 204 }),
  }
})

describe('Sandbox: create, connect, list, kill', () => {
  it('create sends only the sandbox settings, with the token, and wraps the result', async () => {
    const body = {
      template: 'default',
      timeoutMs: 60_000,
      metadata: { job: 'ci-42' },
      envs: { FOO: 'bar' },
      resources: { memoryMb: 256 },
      lifecycle: { onTimeout: 'pause' as const, autoResume: true },
      network: { allowedDomains: ['*.npmjs.org'] },
      filesystem: { denyRead: ['/etc/hosts'] },
    }
    const sbx = await Sandbox.create({ ...conn(), requestTimeoutMs: 5000, ...body })
    expect(sbx.sandboxId).toBe(SBX)
    expect(sbx.info.state).toBe('running')
    const [req] = find('POST', '/v1/sandboxes')
    expect(req?.headers.authorization).toBe('Bearer tok_test')
    // Every option but the connection's goes to the API as is.
    expect(req?.json).toEqual(body)
  })

  it('create takes the template first, E2B style', async () => {
    await Sandbox.create('python', { ...conn(), timeoutMs: 10_000 })
    expect(find('POST', '/v1/sandboxes')[0]?.json).toEqual({ template: 'python', timeoutMs: 10_000 })
  })

  describe('connection from the environment', () => {
    const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process!.env
    const saved = { url: env.TIDEPOOL_URL, token: env.TIDEPOOL_TOKEN }
    afterEach(() => {
      env.TIDEPOOL_URL = saved.url
      env.TIDEPOOL_TOKEN = saved.token
      if (saved.url === undefined) delete env.TIDEPOOL_URL
      if (saved.token === undefined) delete env.TIDEPOOL_TOKEN
    })

    it('uses TIDEPOOL_URL and TIDEPOOL_TOKEN', async () => {
      env.TIDEPOOL_URL = baseUrl
      env.TIDEPOOL_TOKEN = 'tok_env'
      const sbx = await Sandbox.connect(SBX)
      expect(sbx.info.id).toBe(SBX)
      expect(seen[0]?.headers.authorization).toBe('Bearer tok_env')
    })

    it('without a token, fails with unauthenticated before any request', async () => {
      delete env.TIDEPOOL_TOKEN
      const err = (await Sandbox.connect(SBX, { apiUrl: baseUrl }).catch((e: unknown) => e)) as ApiError
      expect(err).toBeInstanceOf(ApiError)
      expect(err.code).toBe('unauthenticated')
      expect(err.message).toContain('TIDEPOOL_TOKEN')
      expect(seen).toHaveLength(0)
    })
  })

  it('connect to a missing sandbox throws not_found', async () => {
    await expect(Sandbox.connect('sbx_gone00', conn())).rejects.toMatchObject({ code: 'not_found', status: 404 })
  })

  it('a given client is used as is', async () => {
    const client = createClient({ baseUrl, token: 'tok_client' })
    const sbx = await Sandbox.connect(SBX, { client })
    expect(sbx.client).toBe(client)
    expect(seen[0]?.headers.authorization).toBe('Bearer tok_client')
  })

  it('list maps query.metadata/state, limit and nextToken to the query string', async () => {
    routes['GET /v1/sandboxes'] = () => ({ json: { items: [info()], nextToken: 'n2' } })
    const page = await Sandbox.list({ ...conn(), query: { metadata: { job: 'ci 42' }, state: 'paused' }, limit: 10, nextToken: 'n1' })
    expect(page.items.map((s) => s.id)).toEqual([SBX])
    expect(page.nextToken).toBe('n2')
    expect(seen[0]?.query).toEqual([
      ['metadata.job', 'ci 42'],
      ['state', 'paused'],
      ['limit', '10'],
      ['nextToken', 'n1'],
    ])
  })

  it('paginate walks every page', async () => {
    routes['GET /v1/sandboxes'] = (req) => (req.query.some(([k]) => k === 'nextToken') ? { json: { items: [info({ id: 'sbx_second1' })] } } : { json: { items: [info()], nextToken: 'n2' } })
    const ids: string[] = []
    for await (const s of Sandbox.paginate({ ...conn(), query: { state: 'running' } })) ids.push(s.id)
    expect(ids).toEqual([SBX, 'sbx_second1'])
  })

  it('static kill: true when gone, false when there was no such sandbox', async () => {
    await expect(Sandbox.kill(SBX, conn())).resolves.toBe(true)
    await expect(Sandbox.kill('sbx_other1', conn())).resolves.toBe(false)
    routes[`DELETE /v1/sandboxes/${SBX}`] = () => ({ status: 503, json: { error: { code: 'runtime_unavailable', message: 'down' } } })
    await expect(Sandbox.kill(SBX, conn())).rejects.toMatchObject({ code: 'runtime_unavailable' })
  })
})

describe('Sandbox: instance lifecycle', () => {
  it('setTimeout, setResources, pause, resume, getInfo, kill, getMetrics', async () => {
    const sbx = await Sandbox.connect(SBX, conn())
    routes[`PATCH /v1/sandboxes/${SBX}`] = (req) => ({ json: info({ ...req.json, reason: 'patched' }) })
    routes[`POST /v1/sandboxes/${SBX}/pause`] = () => ({ json: info({ state: 'paused' }) })
    routes[`POST /v1/sandboxes/${SBX}/resume`] = () => ({ json: info({ state: 'running' }) })
    const metrics = { at: 'now', cpuSeconds: 1.5, memoryBytes: 10, memoryPeakBytes: 20, memoryLimitBytes: 30, pids: 2, pidsLimit: 256, oomKills: 0 }
    routes[`GET /v1/sandboxes/${SBX}/metrics`] = () => ({ json: metrics })

    await sbx.setTimeout(120_000)
    expect(find('PATCH', `/v1/sandboxes/${SBX}`)[0]?.json).toEqual({ timeoutMs: 120_000 })
    expect(sbx.info.timeoutMs).toBe(120_000)
    await sbx.setResources({ memoryMb: 1024, cpu: 2 })
    expect(find('PATCH', `/v1/sandboxes/${SBX}`)[1]?.json).toEqual({ resources: { memoryMb: 1024, cpu: 2 } })
    await sbx.setMetadata({ a: 'b' })
    expect(find('PATCH', `/v1/sandboxes/${SBX}`)[2]?.json).toEqual({ metadata: { a: 'b' } })
    await sbx.pause()
    expect(sbx.info.state).toBe('paused')
    await sbx.resume()
    expect(sbx.info.state).toBe('running')
    expect(await sbx.isRunning()).toBe(true)
    expect(await sbx.getMetrics()).toEqual(metrics)
    await sbx.kill()
    expect(find('DELETE', `/v1/sandboxes/${SBX}`)).toHaveLength(1)
  })
})

describe('sbx.commands', () => {
  const execPath = `/v1/sandboxes/${SBX}/exec`

  it('run: buffered JSON; a non-zero exit is returned, not thrown', async () => {
    routes[`POST ${execPath}`] = () => ({ json: result({ exitCode: 3, stdout: 'out\n', stderr: 'bad\n' }) })
    const sbx = await Sandbox.connect(SBX, conn())
    const r = await sbx.commands.run('false', { cwd: '/workspace', envs: { A: '1' }, user: 'root', timeoutMs: 5000, stdin: 'in' })
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'bad\n' })
    const req = find('POST', execPath)[0]!
    expect(req.json).toEqual({ cmd: 'false', cwd: '/workspace', envs: { A: '1' }, user: 'root', timeoutMs: 5000, stdin: 'in' })
    expect(req.headers.accept).toBe('application/json')
  })

  it('run with throwOnError: CommandExitError carrying the result', async () => {
    routes[`POST ${execPath}`] = () => ({ json: result({ exitCode: 2, stderr: 'no such file\n' }) })
    const sbx = await Sandbox.connect(SBX, conn())
    const err = (await sbx.commands.run(['ls', '/nope'], { throwOnError: true }).catch((e: unknown) => e)) as CommandExitError
    expect(err).toBeInstanceOf(CommandExitError)
    expect(err.name).toBe('CommandExitError')
    expect(err.exitCode).toBe(2)
    expect(err.stderr).toBe('no such file\n')
    expect(err.message).toContain('exited with code 2: no such file')
    expect(err.result.exitCode).toBe(2)
    routes[`POST ${execPath}`] = () => ({ json: result({ exitCode: 0, stdout: 'ok' }) })
    await expect(sbx.commands.run('true', { throwOnError: true })).resolves.toMatchObject({ stdout: 'ok' })
  })

  it('run with onStdout/onStderr streams NDJSON, calls back per chunk and assembles the result', async () => {
    routes[`POST ${execPath}`] = (req) => {
      expect(req.headers.accept).toContain('application/x-ndjson')
      return {
        ndjson: [
          { pid: 7 },
          { stream: 'stdout', data: 'one ' },
          { stream: 'stderr', data: 'warn\n' },
          { stream: 'stdout', data: 'two ✓\n' },
          { exitCode: 0, durationMs: 5, timedOut: false, oomKilled: false, truncated: false, stdoutBytes: 11, stderrBytes: 5 },
        ],
      }
    }
    const sbx = await Sandbox.connect(SBX, conn())
    const out: string[] = []
    const err: string[] = []
    const r = await sbx.commands.run('echo', { onStdout: (d) => void out.push(d), onStderr: (d) => void err.push(d) })
    expect(out).toEqual(['one ', 'two ✓\n'])
    expect(err).toEqual(['warn\n'])
    expect(r).toEqual(result({ stdout: 'one two ✓\n', stderr: 'warn\n', durationMs: 5, stdoutBytes: 11, stderrBytes: 5 }))
  })

  it('a command allowed more than 4 minutes streams even without callbacks', async () => {
    routes[`POST ${execPath}`] = (req) =>
      String(req.headers.accept).includes('ndjson')
        ? {
            ndjson: [
              { stream: 'stdout', data: 'long' },
              { exitCode: 0, durationMs: 5, timedOut: false, oomKilled: false, truncated: false, stdoutBytes: 4, stderrBytes: 0 },
            ],
          }
        : { status: 400, json: { error: { code: 'invalid_request', message: 'expected a stream' } } }
    const sbx = await Sandbox.connect(SBX, conn())
    await expect(sbx.commands.run('make', { timeoutMs: 600_000 })).resolves.toMatchObject({ stdout: 'long', exitCode: 0 })
    expect(find('POST', execPath)[0]?.json).toEqual({ cmd: 'make', timeoutMs: 600_000 })
  })

  it('a streamed run keeps head and tail beyond outputLimit and says truncated', async () => {
    routes[`POST ${execPath}`] = () => ({
      ndjson: [
        ...['aaaa', 'bbbb', 'cccc', 'dddd'].map((data) => ({ stream: 'stdout', data })),
        { exitCode: 0, durationMs: 5, timedOut: false, oomKilled: false, truncated: false, stdoutBytes: 16, stderrBytes: 0 },
      ],
    })
    const sbx = await Sandbox.connect(SBX, conn())
    const seenOut: string[] = []
    const r = await sbx.commands.run('yes', { outputLimit: 8, onStdout: (d) => void seenOut.push(d) })
    expect(seenOut.join('')).toBe('aaaabbbbccccdddd')
    expect(r.stdout).toBe('aaaadddd')
    expect(r.truncated).toBe(true)
  })

  it('background: a handle whose wait() and kill() use waitCommand and killCommand', async () => {
    routes[`POST ${execPath}`] = (req) => {
      expect(req.json?.background).toBe(true)
      return { json: { pid: 42, cmd: ['sleep', '100'], state: 'running', startedAt: 'now' } }
    }
    routes[`POST /v1/sandboxes/${SBX}/commands/42/wait`] = () => ({ json: result({ exitCode: 137, stdout: 'bye' }) })
    routes[`POST /v1/sandboxes/${SBX}/commands/42/kill`] = () => ({ json: { pid: 42, cmd: ['sleep', '100'], state: 'exited', startedAt: 'now', exitCode: 137 } })
    const sbx = await Sandbox.connect(SBX, conn())
    const h = await sbx.commands.run(['sleep', '100'], { background: true })
    expect(h).toBeInstanceOf(CommandHandle)
    expect(h.pid).toBe(42)
    expect(await h.kill()).toBe(true)
    const r = await h.wait()
    expect(r).toMatchObject({ exitCode: 137, stdout: 'bye' })
    expect(await h.wait()).toBe(r) // one request, shared
    expect(find('POST', `/v1/sandboxes/${SBX}/commands/42/wait`)).toHaveLength(1)
    expect(await sbx.commands.kill(99)).toBe(false)
  })

  it('background with callbacks streams waitCommand at once; wait() resolves with the collected output', async () => {
    routes[`POST ${execPath}`] = () => ({ json: { pid: 5, cmd: ['x'], state: 'running', startedAt: 'now' } })
    routes[`POST /v1/sandboxes/${SBX}/commands/5/wait`] = (req) => {
      expect(req.headers.accept).toContain('application/x-ndjson')
      return {
        ndjson: [
          { stream: 'stdout', data: 'tick\n' },
          { stream: 'stdout', data: 'tock\n' },
          { exitCode: 1, durationMs: 9, timedOut: false, oomKilled: false, truncated: false, stdoutBytes: 10, stderrBytes: 0 },
        ],
      }
    }
    const sbx = await Sandbox.connect(SBX, conn())
    const out: string[] = []
    const h = await sbx.commands.run('clock', { background: true, onStdout: (d) => void out.push(d), throwOnError: true })
    await expect(h.wait()).rejects.toBeInstanceOf(CommandExitError)
    expect(out).toEqual(['tick\n', 'tock\n'])
  })

  it('list and connect', async () => {
    const items = [{ pid: 1, cmd: ['sh'], state: 'running', startedAt: 'now' }]
    routes[`GET /v1/sandboxes/${SBX}/commands`] = () => ({ json: { items } })
    routes[`POST /v1/sandboxes/${SBX}/commands/1/wait`] = () => ({ json: result() })
    const sbx = await Sandbox.connect(SBX, conn())
    expect(await sbx.commands.list()).toEqual(items)
    const h = await sbx.commands.connect(1)
    await expect(h.wait()).resolves.toMatchObject({ exitCode: 0 })
  })
})

describe('sbx.files', () => {
  const files = `/v1/sandboxes/${SBX}/files`

  it('read as text (UTF-8), bytes or blob', async () => {
    routes[`GET ${files}`] = () => ({ bytes: Buffer.from('héllo\n') })
    const sbx = await Sandbox.connect(SBX, conn())
    expect(await sbx.files.read('/workspace/a.txt')).toBe('héllo\n')
    const bytes = await sbx.files.read('a.txt', { format: 'bytes' })
    expect([...bytes]).toEqual([...Buffer.from('héllo\n')])
    const blob = await sbx.files.read('a.txt', { format: 'blob' })
    expect(await blob.text()).toBe('héllo\n')
    expect(find('GET', files)[0]?.query).toEqual([['path', '/workspace/a.txt']])
  })

  it('write a string or bytes (raw body, path in the query), and several at once', async () => {
    routes[`PUT ${files}`] = (req) => ({ json: { exists: true, entry: entry(req.query[0]![1]) } })
    const sbx = await Sandbox.connect(SBX, conn())
    const e = await sbx.files.write('/workspace/hello.txt', 'hi ✓')
    expect(e.path).toBe('/workspace/hello.txt')
    const [req] = find('PUT', files)
    expect(req?.body.toString('utf8')).toBe('hi ✓')
    expect(req?.headers['content-type']).toBe('application/octet-stream')
    const many = await sbx.files.write([
      { path: '/a', data: new Uint8Array([1]) },
      { path: '/b', data: 'b' },
    ])
    expect(many.map((m) => m.path)).toEqual(['/a', '/b'])
  })

  it('list, exists, getInfo, remove, rename, makeDir', async () => {
    routes[`GET ${files}?list=1`] = () => ({ json: { items: [entry('/w/a'), entry('/w/d', 'dir')] } })
    routes[`GET ${files}/stat`] = (req) => (req.query[0]![1] === '/w/a' ? { json: { exists: true, entry: entry('/w/a') } } : { json: { exists: false } })
    routes[`DELETE ${files}`] = () => ({ status: 204 })
    routes[`POST ${files}/rename`] = (req) => ({ json: { exists: true, entry: entry(String(req.json?.to)) } })
    routes[`POST ${files}/mkdir`] = () => ({ json: { exists: true, entry: entry('/w/new', 'dir') } })
    const sbx = await Sandbox.connect(SBX, conn())

    expect((await sbx.files.list('/w', { depth: 2 })).map((x) => x.type)).toEqual(['file', 'dir'])
    expect(find('GET', files)[0]?.query).toEqual([
      ['path', '/w'],
      ['depth', '2'],
      ['list', '1'],
    ])
    expect(await sbx.files.exists('/w/a')).toBe(true)
    expect(await sbx.files.exists('/w/zz')).toBe(false)
    expect((await sbx.files.getInfo('/w/a')).path).toBe('/w/a')
    await expect(sbx.files.getInfo('/w/zz')).rejects.toMatchObject({ code: 'not_found' })
    await expect(sbx.files.remove('/w/a')).resolves.toBeUndefined()
    expect(find('DELETE', files)[0]?.query).toEqual([['path', '/w/a']])
    expect((await sbx.files.rename('/w/a', '/w/b')).path).toBe('/w/b')
    expect(find('POST', `${files}/rename`)[0]?.json).toEqual({ from: '/w/a', to: '/w/b' })
    expect((await sbx.files.makeDir('/w/new')).type).toBe('dir')
    expect(find('POST', `${files}/mkdir`)[0]?.json).toEqual({ path: '/w/new' })
  })

  it('errors carry the API code', async () => {
    routes[`GET ${files}`] = () => notFound('/nope does not exist')
    const sbx = await Sandbox.connect(SBX, conn())
    await expect(sbx.files.read('/nope')).rejects.toMatchObject({ code: 'not_found', message: '/nope does not exist' })
  })
})

describe('HeadTail', () => {
  it('keeps everything up to the limit', () => {
    const h = new HeadTail(10)
    h.push('12345')
    h.push('67890')
    expect([h.text(), h.truncated]).toEqual(['1234567890', false])
  })

  it('beyond the limit keeps the first and last halves', () => {
    const h = new HeadTail(10)
    for (const c of ['abc', 'defg', 'hij', 'klmnop', 'qrstuvwxyz']) h.push(c)
    expect(h.text()).toBe('abcdevwxyz')
    expect(h.truncated).toBe(true)
  })

  it('never splits a surrogate pair', () => {
    const h = new HeadTail(6)
    h.push('ab🌊cd') // 🌊 is two UTF-16 units at 2..3
    h.push('efgh')
    expect(h.text()).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/)
    expect(h.truncated).toBe(true)
    const t = new HeadTail(6)
    t.push('abcdef')
    t.push('🌊🌊') // dropping 4 units from 'def🌊🌊' would cut the first 🌊 in half
    expect(t.text()).toBe('abc🌊')
  })
})

describe('Sandbox.run (one-shot)', () => {
  it('posts the command and its settings to /v1/run and returns the result with its sandbox id', async () => {
    routes['POST /v1/run'] = () => ({ json: result({ exitCode: 4, stdout: 'hi\n', sandboxId: SBX }) })
    const r = await Sandbox.run(['sh', '-c', 'echo hi; exit 4'], { ...conn(), template: 'node', timeoutMs: 5000, envs: { A: '1' }, resources: { memoryMb: 64 } })
    expect(r).toMatchObject({ exitCode: 4, stdout: 'hi\n', sandboxId: SBX })
    const req = find('POST', '/v1/run')[0]!
    expect(req.json).toEqual({ cmd: ['sh', '-c', 'echo hi; exit 4'], template: 'node', timeoutMs: 5000, envs: { A: '1' }, resources: { memoryMb: 64 } })
    expect(req.headers.authorization).toBe('Bearer tok_test')
  })

  it('streams to the callbacks as NDJSON, and throws CommandExitError with throwOnError', async () => {
    routes['POST /v1/run'] = () => ({
      ndjson: [
        { stream: 'stdout', data: 'a' },
        { stream: 'stderr', data: 'b' },
        { ...result({ exitCode: 1, sandboxId: SBX }), stdout: undefined, stderr: undefined },
      ],
    })
    const out: string[] = []
    const err = (await Sandbox.run('false', { ...conn(), onStdout: (d) => void out.push(d), throwOnError: true }).catch((e: unknown) => e)) as CommandExitError
    expect(out).toEqual(['a'])
    expect(err).toBeInstanceOf(CommandExitError)
    expect(err.result).toMatchObject({ exitCode: 1, stdout: 'a', stderr: 'b', sandboxId: SBX })
    expect(String(find('POST', '/v1/run').at(-1)!.headers.accept)).toContain('application/x-ndjson')
  })
})
