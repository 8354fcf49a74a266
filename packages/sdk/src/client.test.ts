import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ApiError } from './api-error.js'
import { createClient, paginate, type Client, type StreamLine } from './client.js'
import { operations } from './contract/operations.js'
import { sandboxInfo } from './sandbox.fixture.js'

interface Seen {
  method: string
  url: URL
  headers: IncomingHttpHeaders
  body: Buffer
}
type Handler = (req: Seen, res: ServerResponse) => void | Promise<void>

/** A real HTTP server on 127.0.0.1 whose answer each test sets; it records every request. */
async function fakeServer() {
  const seen: Seen[] = []
  let handler: Handler = (_req, res) => json(res, 404, { error: { code: 'not_found', message: 'no handler' } })
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const rec = { method: req.method ?? '', url: new URL(req.url ?? '/', 'http://x'), headers: req.headers, body: Buffer.concat(chunks) }
    seen.push(rec)
    await handler(rec, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    handle(h: Handler) {
      handler = h
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const SBX = 'sbx_abc123def'
const sandbox = sandboxInfo(SBX)

let srv: Awaited<ReturnType<typeof fakeServer>>
let api: Client
beforeAll(async () => {
  srv = await fakeServer()
  api = createClient({ baseUrl: `${srv.baseUrl}/`, token: 'tok_secret', headers: { 'x-extra': 'yes' } })
})
afterAll(() => srv.close())
beforeEach(() => {
  srv.seen.length = 0
})
const last = () => srv.seen[srv.seen.length - 1]!

describe('createClient: requests follow the table', () => {
  it('has a method for every operation in the table', () => {
    for (const name of Object.keys(operations)) expect(typeof (api as unknown as Record<string, unknown>)[name]).toBe('function')
  })

  it('GET: bearer token, metadata.<key> query pairs (percent-encoded), scalars, no body', async () => {
    srv.handle((_req, res) => json(res, 200, { items: [sandbox] }))
    const page = await api.listSandboxes({ metadata: { team: 'a b', 'k.x': 'v&w=é' }, state: 'running', limit: 5 })
    expect(page.items[0]?.id).toBe(SBX)
    const req = last()
    expect(req.method).toBe('GET')
    expect(req.url.pathname).toBe('/v1/sandboxes')
    expect(req.url.search).toBe('?metadata.team=a%20b&metadata.k.x=v%26w%3D%C3%A9&state=running&limit=5')
    expect([...req.url.searchParams]).toEqual([
      ['metadata.team', 'a b'],
      ['metadata.k.x', 'v&w=é'],
      ['state', 'running'],
      ['limit', '5'],
    ])
    expect(req.headers.authorization).toBe('Bearer tok_secret')
    expect(req.headers.accept).toBe('application/json')
    expect(req.headers['x-extra']).toBe('yes')
    expect(req.headers['content-type']).toBeUndefined()
    expect(req.body.length).toBe(0)
  })

  it('path params are URL-encoded and not repeated in the query; input may be omitted when optional', async () => {
    srv.handle((_req, res) => json(res, 200, sandbox))
    await api.getSandbox({ id: 'sbx_a/../b c' })
    expect(last().url.pathname).toBe('/v1/sandboxes/sbx_a%2F..%2Fb%20c')
    expect(last().url.search).toBe('')
    srv.handle((_req, res) => json(res, 200, { items: [] }))
    await api.listSandboxes()
    expect(last().url.search).toBe('')
  })

  it('a missing path param fails before any request', async () => {
    const err = await api.getSandbox({ id: '' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ code: 'invalid_request', status: 0 })
    expect(srv.seen).toHaveLength(0)
  })

  it('POST: the remaining fields are the JSON body; a non-200 success status is fine', async () => {
    srv.handle((_req, res) => json(res, 201, sandbox))
    const s = await api.createSandbox({ template: 'default', metadata: { a: '1' }, envs: { K: 'v' } })
    expect(s.id).toBe(SBX)
    expect(last().method).toBe('POST')
    expect(last().headers['content-type']).toBe('application/json')
    expect(JSON.parse(last().body.toString())).toEqual({ template: 'default', metadata: { a: '1' }, envs: { K: 'v' } })
  })

  it('PATCH: path param moves out of the body; undefined fields are left out', async () => {
    srv.handle((_req, res) => json(res, 200, sandbox))
    await api.patchSandbox({ id: SBX, timeoutMs: 60_000, metadata: undefined })
    expect(last().url.pathname).toBe(`/v1/sandboxes/${SBX}`)
    expect(JSON.parse(last().body.toString())).toEqual({ timeoutMs: 60_000 })
  })

  it('POST without fields sends {}', async () => {
    srv.handle((_req, res) => json(res, 200, sandbox))
    await api.pauseSandbox({ id: SBX })
    expect(last().url.pathname).toBe(`/v1/sandboxes/${SBX}/pause`)
    expect(last().body.toString()).toBe('{}')
  })

  it("adds the op's query discriminator (listFiles ?list=1)", async () => {
    srv.handle((_req, res) => json(res, 200, { items: [] }))
    await api.listFiles({ id: SBX, path: '/home/user/my dir', depth: 2 })
    expect(last().url.pathname).toBe(`/v1/sandboxes/${SBX}/files`)
    expect([...last().url.searchParams]).toEqual([
      ['path', '/home/user/my dir'],
      ['depth', '2'],
      ['list', '1'],
    ])
  })

  it('arrays go to the query as repeated keys', async () => {
    const { encode } = await import('./http-exchange.js')
    const { url } = encode('http://h', 'x', { ...operations.listSandboxes }, { state: ['running', 'paused'], metadata: { a: 'b' } })
    expect(url).toBe('http://h/v1/sandboxes?state=running&state=paused&metadata.a=b')
  })

  it('raw body: bytes as they are, the other fields in the query, octet-stream', async () => {
    srv.handle((_req, res) => json(res, 200, { exists: true }))
    const bytes = new Uint8Array([0, 255, 1, 0xc3, 0x28, 10])
    await api.writeFile({ id: SBX, path: '/tmp/bin file', content: bytes })
    const req = last()
    expect(req.method).toBe('PUT')
    expect(req.url.pathname).toBe(`/v1/sandboxes/${SBX}/files`)
    expect([...req.url.searchParams]).toEqual([['path', '/tmp/bin file']])
    expect(req.headers['content-type']).toBe('application/octet-stream')
    expect([...req.body]).toEqual([...bytes])
  })

  it('raw body: strings as UTF-8, Blobs and ArrayBuffers too', async () => {
    srv.handle((_req, res) => json(res, 200, { exists: true }))
    await api.writeFile({ id: SBX, path: 'a', content: 'héllo 🌊' })
    expect(last().body.toString('utf8')).toBe('héllo 🌊')
    await api.writeFile({ id: SBX, path: 'b', content: new Blob(['blob!']) })
    expect(last().body.toString('utf8')).toBe('blob!')
    await api.writeFile({ id: SBX, path: 'c', content: new Uint8Array([7, 8]).buffer })
    expect([...last().body]).toEqual([7, 8])
  })

  it("'raw' output comes back as the exact bytes", async () => {
    const bytes = Buffer.from([0, 0xff, 0xfe, 0x80, 65])
    srv.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.end(bytes)
    })
    const got = await api.readFile({ id: SBX, path: '/bin/x' })
    expect(got).toBeInstanceOf(Uint8Array)
    expect([...got]).toEqual([...bytes])
    expect(last().url.search).toBe('?path=%2Fbin%2Fx')
  })

  it("'empty' output (204) resolves to undefined", async () => {
    srv.handle((_req, res) => {
      res.writeHead(204)
      res.end()
    })
    await expect(api.deleteSandbox({ id: SBX })).resolves.toBeUndefined()
    expect(last().method).toBe('DELETE')
  })

  it('the base URL keeps a path prefix', async () => {
    const prefixed = createClient({ baseUrl: `${srv.baseUrl}/tidepool//`, token: 't' })
    srv.handle((_req, res) => json(res, 200, { tokenId: 't', name: 'n', project: 'p', scopes: [] }))
    await prefixed.whoami()
    expect(last().url.pathname).toBe('/tidepool/v1/me')
  })

  it('rejects a base URL that is not http(s)', () => {
    expect(() => createClient({ baseUrl: '127.0.0.1:7070', token: 't' })).toThrow(/baseUrl must be an http/)
  })
})

describe('createClient: errors', () => {
  it('an error body becomes ApiError with code, status, message, details, requestId', async () => {
    srv.handle((_req, res) => json(res, 404, { error: { code: 'not_found', message: `sandbox ${SBX} not found`, details: [{ path: 'id', message: 'x' }], requestId: 'req_1' } }))
    const err = (await api.getSandbox({ id: SBX }).catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('ApiError')
    expect(err).toMatchObject({ code: 'not_found', status: 404, message: `sandbox ${SBX} not found`, requestId: 'req_1' })
    expect(err.details).toEqual([{ path: 'id', message: 'x' }])
    expect(err.retryAfter).toBeUndefined()
  })

  it("onRequestId is told the answer's x-request-id, on success and on failure", async () => {
    let status = 200
    srv.handle((_req, res) =>
      status === 200 ? json(res, 200, { items: [] }, { 'x-request-id': 'req_ok' }) : json(res, 404, { error: { code: 'not_found', message: 'no' } }, { 'x-request-id': 'req_no' }),
    )
    const seen: string[] = []
    await api.listSandboxes({}, { onRequestId: (id) => seen.push(id) })
    status = 404
    await api.listSandboxes({}, { onRequestId: (id) => seen.push(id) }).catch(() => {})
    expect(seen).toEqual(['req_ok', 'req_no'])
  })

  it('429 carries retryAfter from Retry-After', async () => {
    srv.handle((_req, res) =>
      json(
        res,
        429,
        { error: { code: 'quota_exceeded', message: 'at most 2 sandboxes', details: { scope: 'project', limit: 2, used: 2, retryAfter: 30 } } },
        { 'retry-after': '7', 'x-request-id': 'req_h' },
      ),
    )
    const err = (await api.createSandbox({}).catch((e: unknown) => e)) as ApiError
    expect(err).toMatchObject({ code: 'quota_exceeded', status: 429, retryAfter: 7, requestId: 'req_h' })
    expect(err.details).toMatchObject({ limit: 2, used: 2 })
  })

  it('a non-JSON 502 becomes internal with the status and a snippet', async () => {
    srv.handle((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<html>Bad Gateway from nginx</html>')
    })
    const err = (await api.getSandbox({ id: SBX }).catch((e: unknown) => e)) as ApiError
    expect(err).toMatchObject({ code: 'internal', status: 502 })
    expect(err.message).toContain('502')
    expect(err.message).toContain('Bad Gateway from nginx')
  })

  it('a JSON body that is not the error shape also becomes internal', async () => {
    srv.handle((_req, res) => json(res, 500, { oops: true }))
    await expect(api.getSandbox({ id: SBX })).rejects.toMatchObject({ code: 'internal', status: 500 })
  })

  it('a 2xx with invalid JSON becomes internal', async () => {
    srv.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{not json')
    })
    await expect(api.getSandbox({ id: SBX })).rejects.toMatchObject({ code: 'internal', status: 200 })
  })

  it('a refused connection is network_error', async () => {
    const dead = await fakeServer()
    await dead.close()
    const c = createClient({ baseUrl: dead.baseUrl, token: 't' })
    const err = (await c.whoami().catch((e: unknown) => e)) as ApiError
    expect(err).toMatchObject({ code: 'network_error', status: 0 })
    expect(err.message).toMatch(/whoami \(GET http:\/\/127\.0\.0\.1:\d+\/v1\/me\) failed/)
    expect(err.cause).toBeDefined()
  })

  it('timeoutMs: no response in time is network_error', async () => {
    srv.handle(async (_req, res) => {
      await sleep(1000)
      json(res, 200, sandbox)
    })
    const c = createClient({ baseUrl: srv.baseUrl, token: 't', timeoutMs: 50 })
    const t0 = Date.now()
    await expect(c.getSandbox({ id: SBX })).rejects.toMatchObject({ code: 'network_error', message: expect.stringContaining('no response within 50 ms') })
    expect(Date.now() - t0).toBeLessThan(900)
    // per call override
    await expect(c.getSandbox({ id: SBX }, { timeoutMs: 5000 })).resolves.toMatchObject({ id: SBX })
  })

  it("an aborted signal rejects with the signal's reason", async () => {
    srv.handle(async (_req, res) => {
      await sleep(500)
      json(res, 200, sandbox)
    })
    const ctrl = new AbortController()
    setTimeout(() => ctrl.abort(), 30)
    const err = (await api.getSandbox({ id: SBX }, { signal: ctrl.signal }).catch((e: unknown) => e)) as Error
    expect(err.name).toBe('AbortError')
    const pre = AbortSignal.abort(new Error('mine'))
    await expect(api.getSandbox({ id: SBX }, { signal: pre })).rejects.toThrow('mine')
  })

  it('validate: true checks responses against the output schema', async () => {
    const strict = createClient({ baseUrl: srv.baseUrl, token: 't', validate: true })
    srv.handle((_req, res) => json(res, 200, { ...sandbox, state: 'melting' }))
    const err = (await strict.getSandbox({ id: SBX }).catch((e: unknown) => e)) as ApiError
    expect(err).toMatchObject({ code: 'internal' })
    expect(err.message).toContain('state')
    srv.handle((_req, res) => json(res, 200, sandbox))
    await expect(strict.getSandbox({ id: SBX })).resolves.toEqual(sandbox)
  })
})

describe('createClient: NDJSON streams', () => {
  const lines = [
    { pid: 3 },
    { stream: 'stdout', data: 'héllo wörld ✓ 🌊\n' },
    { stream: 'stderr', data: '警告: 多字节\n' },
    { stream: 'stdout', data: 'x'.repeat(300) },
    { exitCode: 0, durationMs: 12, timedOut: false, oomKilled: false, truncated: false, stdoutBytes: 320, stderrBytes: 20 },
  ]
  const payload = Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''))

  /** Write `bytes` in chunks of 1, 2, 3, 5, 7 … bytes (cutting through UTF-8 sequences), pausing between. */
  async function dribble(res: ServerResponse, bytes: Buffer) {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    const sizes = [1, 2, 3, 5, 7, 11, 64]
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const n = sizes[k % sizes.length]!
      res.write(bytes.subarray(at, at + n))
      at += n
      await sleep(1) // so the chunks reach the client apart, not coalesced
    }
    res.end()
  }

  it('parses lines split at awkward byte boundaries (multi-byte UTF-8 included) over a real socket', async () => {
    srv.handle((_req, res) => dribble(res, payload))
    const got: StreamLine[] = []
    const end = await api.stream('exec', { id: SBX, cmd: ['echo', 'hi'] }, { onLine: (l) => void got.push(l) })
    expect(got).toEqual(lines)
    expect(end).toEqual(lines[4])
    expect(last().headers.accept).toContain('application/x-ndjson')
    expect(last().url.pathname).toBe(`/v1/sandboxes/${SBX}/exec`)
    expect(JSON.parse(last().body.toString())).toEqual({ cmd: ['echo', 'hi'] })
  })

  it('decodes every possible two-way split of the payload (deterministic chunks via a fetch double)', async () => {
    for (let cut = 1; cut < payload.length; cut++) {
      const parts = [payload.subarray(0, cut), payload.subarray(cut)]
      const fetch = async () =>
        new Response(
          new ReadableStream({
            start(c) {
              for (const p of parts) c.enqueue(new Uint8Array(p))
              c.close()
            },
          }),
          {
            headers: { 'content-type': 'application/x-ndjson' },
          },
        )
      const c = createClient({ baseUrl: 'http://unused', token: 't', fetch })
      const got: StreamLine[] = []
      await c.stream('waitCommand', { id: SBX, pid: 3 }, { onLine: (l) => void got.push(l) })
      expect(got).toEqual(lines)
    }
  })

  it('handles a last line without a trailing newline, CRLF and blank lines', async () => {
    const text = `{"stream":"stdout","data":"a"}\r\n\n{"exitCode":1,"durationMs":1,"timedOut":false,"oomKilled":false,"truncated":false,"stdoutBytes":1,"stderrBytes":0}`
    srv.handle((_req, res) => dribble(res, Buffer.from(text)))
    const got: StreamLine[] = []
    const end = await api.stream('exec', { id: SBX, cmd: 'x' }, { onLine: (l) => void got.push(l) })
    expect(got[0]).toEqual({ stream: 'stdout', data: 'a' })
    expect(end.exitCode).toBe(1)
  })

  it('an error line mid-stream rejects with ApiError after the earlier lines', async () => {
    const text = `{"pid":1}\n{"stream":"stdout","data":"partial"}\n{"error":{"code":"runtime_unavailable","message":"sandbox died","requestId":"req_9"}}\n`
    srv.handle((_req, res) => dribble(res, Buffer.from(text)))
    const got: StreamLine[] = []
    const err = (await api.stream('exec', { id: SBX, cmd: 'x' }, { onLine: (l) => void got.push(l) }).catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ code: 'runtime_unavailable', status: 503, message: 'sandbox died', requestId: 'req_9' })
    expect(got).toEqual([{ pid: 1 }, { stream: 'stdout', data: 'partial' }])
  })

  it('a stream that ends before the final line is network_error', async () => {
    srv.handle((_req, res) => dribble(res, Buffer.from('{"pid":1}\n{"stream":"stdout","data":"x"}\n')))
    await expect(api.stream('exec', { id: SBX, cmd: 'x' })).rejects.toMatchObject({ code: 'network_error' })
  })

  it('a non-2xx before streaming is an ordinary ApiError', async () => {
    srv.handle((_req, res) => json(res, 404, { error: { code: 'not_found', message: 'no sandbox' } }))
    await expect(api.stream('exec', { id: SBX, cmd: 'x' })).rejects.toMatchObject({ code: 'not_found', status: 404 })
  })

  it('a server answering buffered JSON still feeds onLine', async () => {
    srv.handle((_req, res) => json(res, 200, { exitCode: 2, stdout: 'out', stderr: 'err', durationMs: 1, timedOut: false, oomKilled: false, truncated: false, stdoutBytes: 3, stderrBytes: 3 }))
    const got: StreamLine[] = []
    const end = await api.stream('exec', { id: SBX, cmd: 'x' }, { onLine: (l) => void got.push(l) })
    expect(got).toEqual([
      { stream: 'stdout', data: 'out' },
      { stream: 'stderr', data: 'err' },
    ])
    expect(end.exitCode).toBe(2)
  })

  it('an onLine that throws cancels the stream and rejects with that error', async () => {
    srv.handle((_req, res) => dribble(res, payload))
    const boom = new Error('consumer failed')
    await expect(
      api.stream(
        'exec',
        { id: SBX, cmd: 'x' },
        {
          onLine: (l) => {
            if ('stream' in l) throw boom
          },
        },
      ),
    ).rejects.toBe(boom)
  })

  it('an async onLine is awaited before the next line (backpressure)', async () => {
    srv.handle((_req, res) => dribble(res, payload))
    const order: string[] = []
    await api.stream(
      'exec',
      { id: SBX, cmd: 'x' },
      {
        onLine: async (l) => {
          order.push(`start ${Object.keys(l)[0]}`)
          await sleep(2)
          order.push('end')
        },
      },
    )
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe('end')
  })

  it('refuses a non-streaming op', async () => {
    await expect(api.stream('getSandbox' as 'exec', { id: SBX } as never)).rejects.toMatchObject({ code: 'invalid_request' })
  })
})

describe('paginate', () => {
  it('walks every page, passing nextToken along', async () => {
    srv.handle((req, res) => {
      const t = req.url.searchParams.get('nextToken')
      if (!t) return json(res, 200, { items: [{ ...sandbox, id: 'sbx_aaaaaa1' }], nextToken: 'p2' })
      if (t === 'p2')
        return json(res, 200, {
          items: [
            { ...sandbox, id: 'sbx_aaaaaa2' },
            { ...sandbox, id: 'sbx_aaaaaa3' },
          ],
          nextToken: 'p3',
        })
      return json(res, 200, { items: [] })
    })
    const ids: string[] = []
    for await (const s of paginate(api.listSandboxes, { metadata: { ci: '1' }, limit: 2 })) ids.push(s.id)
    expect(ids).toEqual(['sbx_aaaaaa1', 'sbx_aaaaaa2', 'sbx_aaaaaa3'])
    expect(srv.seen.map((r) => r.url.search)).toEqual(['?metadata.ci=1&limit=2', '?metadata.ci=1&limit=2&nextToken=p2', '?metadata.ci=1&limit=2&nextToken=p3'])
  })
})

describe('portability', () => {
  it('the SDK sources import nothing from node: and touch process only through globalThis', () => {
    const dir = new URL('.', import.meta.url)
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    expect(files.length).toBeGreaterThan(5)
    for (const f of files) {
      const code = readFileSync(new URL(f, dir), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      expect(code, f).not.toMatch(/from\s+['"]node:|import\(\s*['"]node:|require\(/)
      // `process.x` as code (a bare global); `globalThis.process?.env` and prose like "every process." pass.
      expect(code, f).not.toMatch(/(?<![.\w])process(\?\.|\.|\[)[\w'"]/)
    }
  })
})
