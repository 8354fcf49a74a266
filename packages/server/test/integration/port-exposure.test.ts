/**
 * Port exposure for real: servers inside LocalRuntime sandboxes, bound to the sandbox's 127.0.0.1 only,
 * reached through the API server on both URL forms (host name and path): plain HTTP with bodies, an
 * event stream, a WebSocket; tokens, the browser cookie, public ports, 502 for a port nothing listens
 * on, and a sandbox destroyed mid-stream (the client sees the end, nothing is left on the host).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { type IncomingMessage, request } from 'node:http'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { childEnv } from '../../src/core/child-env.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'
import { streamingJs } from './support/port-servers.js'

interface Got {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

describe.skipIf(skipReason)('port exposure (real runtime, real HTTP server)', () => {
  const cgroupName = `tidepool-it-ports-${process.pid}`
  let home: string
  let cp: ControlPlane
  let apiPort: number
  let admin: string
  let other: string
  let api: ReturnType<typeof createClient>
  let id: string

  /** One request to the API server; `host` sets the Host header (the host-name form needs no DNS). */
  function send(path: string, o: { method?: string; host?: string; token?: string | null; headers?: Record<string, string>; body?: string } = {}): Promise<Got> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...o.headers }
      const token = o.token === undefined ? admin : o.token
      if (token) headers.authorization = `Bearer ${token}`
      if (o.host) headers.host = o.host
      const req = request({ host: '127.0.0.1', port: apiPort, path, method: o.method ?? 'GET', headers }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(o.body)
    })
  }
  const hostOf = (port: number, sandbox = id) => `${port}-${sandbox}.sandbox.localhost:${apiPort}`

  /** Polls until the port answers through the proxy (the server inside started in the background). */
  async function untilServing(port: number, sandbox = id): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const r = await send(`/v1/sandboxes/${sandbox}/ports/${port}/`)
      if (r.status !== 502) return
      await sleep(50)
    }
    throw new Error(`port ${port} of ${sandbox} never answered`)
  }

  async function startServers(sandbox: string): Promise<void> {
    await api.writeFile({ id: sandbox, path: '/tmp/www/index.html', content: new TextEncoder().encode('hello from inside\n') })
    await api.writeFile({ id: sandbox, path: '/tmp/stream.js', content: new TextEncoder().encode(streamingJs(9001)) })
    await api.exec({ id: sandbox, cmd: ['python3', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', '/tmp/www', '8000'], background: true })
    await api.exec({ id: sandbox, cmd: ['node', '/tmp/stream.js'], background: true })
    await untilServing(8000, sandbox)
    await untilServing(9001, sandbox)
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-ports-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 256, pids: 128 } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const listening = await cp.listen()
    apiPort = listening.port
    admin = cp.adminToken!
    api = createClient({ baseUrl: listening.url, token: admin })
    other = (await api.createToken({ project: 'other', scopes: ['sandboxes:read', 'sandboxes:write'] })).token
    id = (await api.createSandbox({})).id
    await startServers(id)
  }, 120_000)

  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('reaches a server bound to 127.0.0.1 inside on the path form and the host-name form', async () => {
    const byPath = await send(`/v1/sandboxes/${id}/ports/8000/index.html`)
    expect(byPath).toMatchObject({ status: 200, body: 'hello from inside\n' })
    const byHost = await send('/index.html', { host: hostOf(8000) })
    expect(byHost).toMatchObject({ status: 200, body: 'hello from inside\n' })
    // The SDK's raw call of the operation: GET / of the port, as bytes.
    expect(new TextDecoder().decode(await api.connectPort({ id, port: 8000 }))).toBe('hello from inside\n')
  })

  it('forwards method, path, query and body, without the token, our cookie or access_token', async () => {
    const r = await send(`/v1/sandboxes/${id}/ports/9001/echo/x?a=1&access_token=${admin}&b=2`, {
      method: 'POST',
      body: 'the body',
      headers: { cookie: `tidepool_port_token=${admin}; theirs=1`, 'x-custom': 'yes' },
    })
    expect(r.status).toBe(200)
    const seen = JSON.parse(r.body) as { method: string; url: string; headers: Record<string, string>; body: string }
    expect(seen).toMatchObject({ method: 'POST', url: '/echo/x?a=1&b=2', body: 'the body' })
    expect(seen.headers).toMatchObject({ cookie: 'theirs=1', 'x-custom': 'yes', 'x-forwarded-prefix': `/v1/sandboxes/${id}/ports/9001` })
    expect(seen.headers.authorization).toBeUndefined()
    expect(JSON.stringify(seen)).not.toContain(admin)
  })

  it('refuses a request without a token (401) and one of another project (404), on both forms', async () => {
    for (const host of [undefined, hostOf(8000)]) {
      const path = host ? '/' : `/v1/sandboxes/${id}/ports/8000/`
      const none = await send(path, { token: null, ...(host ? { host } : {}) })
      expect(none.status).toBe(401)
      expect(JSON.parse(none.body)).toMatchObject({ error: { code: 'unauthenticated' } })
      const foreign = await send(path, { token: other, ...(host ? { host } : {}) })
      expect(foreign.status).toBe(404)
      expect(foreign.body).not.toContain('hello')
    }
  })

  it('a browser token in ?access_token= becomes a host-only cookie and a redirect without it', async () => {
    const first = await send(`/index.html?x=1&access_token=${encodeURIComponent(admin)}`, { host: hostOf(8000), token: null })
    expect(first.status).toBe(302)
    expect(first.headers.location).toBe('/index.html?x=1')
    const cookie = first.headers['set-cookie']![0]!
    expect(cookie).toMatch(/^tidepool_port_token=.+; Path=\/; HttpOnly; SameSite=Lax$/)
    const next = await send('/index.html', { host: hostOf(8000), token: null, headers: { cookie: cookie.split(';')[0]! } })
    expect(next).toMatchObject({ status: 200, body: 'hello from inside\n' })
    expect((await send(`/?access_token=wrong`, { host: hostOf(8000), token: null })).status).toBe(401)
  })

  it('a public port answers token-less requests on the host-name form until turned off', async () => {
    expect((await send('/index.html', { host: hostOf(8000), token: null })).status).toBe(401)
    expect(await api.setPortPublic({ id, port: 8000, enabled: true })).toEqual({ sandboxId: id, port: 8000, public: true })
    expect(await send('/index.html', { host: hostOf(8000), token: null })).toMatchObject({ status: 200, body: 'hello from inside\n' })
    // Only that port, only the host-name form; another project still cannot toggle it.
    expect((await send('/', { host: hostOf(9001), token: null })).status).toBe(401)
    expect((await send(`/v1/sandboxes/${id}/ports/8000/index.html`, { token: null })).status).toBe(401)
    const foreign = await send(`/v1/sandboxes/${id}/ports/8000/public`, { method: 'PUT', token: other, headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' })
    expect(foreign.status).toBe(404)
    await api.setPortPublic({ id, port: 8000, enabled: false })
    expect((await send('/index.html', { host: hostOf(8000), token: null })).status).toBe(401)
  })

  it('answers 502 naming the port when nothing listens there', async () => {
    for (const r of [await send(`/v1/sandboxes/${id}/ports/8999/`), await send('/', { host: hostOf(8999) })]) {
      expect(r.status).toBe(502)
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'bad_gateway', message: expect.stringContaining('port 8999') } })
    }
  })

  it('streams an event stream as each event is sent', async () => {
    const events = await openStream(`/sse`, hostOf(9001))
    await events.next(': hello')
    expect((await send(`/v1/sandboxes/${id}/ports/9001/next`)).body).toBe('1')
    await events.next('data: tick 1')
    await send(`/v1/sandboxes/${id}/ports/9001/next`)
    await events.next('data: tick 2')
    events.res.destroy()
  })

  it('relays a WebSocket both ways (upgrade on both forms); an upgrade without a token is refused', async () => {
    for (const [path, host] of [
      [`/v1/sandboxes/${id}/ports/9001/ws`, undefined],
      ['/ws', hostOf(9001)],
    ] as const) {
      const socket = await upgrade(path, host, admin)
      socket.write(maskedText('hi there'))
      const reply = await new Promise<Buffer>((r) => socket.once('data', r))
      expect(reply[0]).toBe(0x81)
      expect(reply.subarray(2).toString()).toBe('hi there')
      socket.destroy()
    }
    await expect(upgrade(`/v1/sandboxes/${id}/ports/9001/ws`, undefined, null)).rejects.toThrow(/401/)
  })

  it('a sandbox destroyed mid-stream ends the client connection, and leaves no helper process', async () => {
    const doomed = (await api.createSandbox({})).id
    await startServers(doomed)
    const events = await openStream('/sse', hostOf(9001, doomed))
    await events.next(': hello')
    const hanging = await openStream('/hang', hostOf(9001, doomed))
    await hanging.next('started')
    const ended = (s: { res: IncomingMessage }) => new Promise<void>((r) => (s.res.once('close', () => r()), s.res.once('end', () => r())))
    const both = Promise.all([ended(events), ended(hanging)])
    await api.deleteSandbox({ id: doomed })
    await both
    expect(leftovers(cgroupName, [doomed]).filter((l) => l.includes(doomed))).toEqual([])
    const ports = spawnSync('ps', ['-eo', 'comm,args'], { encoding: 'utf8', env: childEnv() })
      .stdout.split('\n')
      .filter((l) => l.startsWith('tidepool-port') && l.includes(doomed))
    expect(ports).toEqual([])
  })

  /** A streaming GET; next(text) waits until the body so far contains `text` (bounded). */
  async function openStream(path: string, host: string): Promise<{ res: IncomingMessage; next(text: string): Promise<void> }> {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: apiPort, path, headers: { host, authorization: `Bearer ${admin}` } }, resolve)
      req.on('error', reject)
      req.end()
    })
    expect(res.statusCode).toBe(200)
    let body = ''
    const waiters: (() => void)[] = []
    res.setEncoding('utf8')
    res.on('data', (c: string) => {
      body += c
      for (const w of waiters.splice(0)) w()
    })
    res.on('error', () => {})
    return {
      res,
      async next(text: string) {
        for (let i = 0; i < 200 && !body.includes(text); i++) await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(100)])
        expect(body).toContain(text)
      },
    }
  }

  function upgrade(path: string, host: string | undefined, token: string | null): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
      if (host) headers.host = host
      if (token) headers.authorization = `Bearer ${token}`
      const req = request({ host: '127.0.0.1', port: apiPort, path, headers })
      req.on('upgrade', (res, socket) => {
        expect(res.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
        resolve(socket)
      })
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)))
      req.on('error', reject)
      req.end()
    })
  }
})

/** One masked text frame (what a client sends), payload under 126 bytes. */
function maskedText(text: string): Buffer {
  const data = Buffer.from(text)
  const mask = Buffer.from([1, 2, 3, 4])
  return Buffer.concat([Buffer.from([0x81, 0x80 | data.length]), mask, Buffer.from(data.map((b, i) => b ^ mask[i % 4]!))])
}
