/**
 * The egress proxy with real servers on loopback: an upstream HTTP server and a TLS server (names mapped
 * by `hosts` to 127.0.0.1), and a tiny UDP DNS server for names that are not mapped. Every client below
 * connects from 127.0.0.1, where the test "sandbox" is attached; 127.0.0.2 plays an unknown source.
 */
import { request, type IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer, connect as tlsConnect, type Server as TlsServer } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/core/log.js'
import type { EgressEvent } from '../../src/network/egress-types.js'
import { TidepoolCa } from '../../src/network/ca.js'
import { EgressProxy } from '../../src/network/egress-proxy.js'
import { effectivePolicy } from '../../src/network/policy.js'
import { selfSigned, socksConnect, startDns, startUpstream } from './support/egress.js'

const log = createLogger('silent')
let proxy: EgressProxy
let upstream: Awaited<ReturnType<typeof startUpstream>>
let dns: Awaited<ReturnType<typeof startDns>>
let tls: TlsServer
let tlsPort: number
let cert: { key: string; cert: string }
const events: EgressEvent[] = []
let https: HttpsServer
let httpsPort: number
const httpsSeen: IncomingHttpHeaders[] = []
let caDir: string
let ca: TidepoolCa

const policy = effectivePolicy({
  project: { allowedDomains: ['allowed.test', '*.wild.test', 'private.test', 'ten.test', 'meta.test', 'rebind.test', 'broker.test', 'secure.test'], deniedDomains: [] },
  sandbox: { allowedDomains: [], deniedDomains: ['bad.wild.test'] },
})

beforeAll(async () => {
  upstream = await startUpstream()
  dns = await startDns({ 'private.test': ['127.0.0.1'], 'ten.test': ['10.0.0.1'], 'meta.test': ['169.254.169.254'], 'rebind.test': ['192.0.2.1', '127.0.0.1'] })
  cert = selfSigned(['allowed.test', 'secure.test'])
  https = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => (httpsSeen.push(req.headers), req.resume(), res.end('secure hello')))
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r))
  httpsPort = (https.address() as { port: number }).port
  caDir = mkdtempSync(join(tmpdir(), 'egress-ca-'))
  ca = await TidepoolCa.loadOrCreate(caDir)
  tls = createTlsServer({ key: cert.key, cert: cert.cert }, (s) => {
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntls hello'))
  })
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r))
  tlsPort = (tls.address() as { port: number }).port
  const mapped = {
    'allowed.test': '127.0.0.1',
    'api.wild.test': '127.0.0.1',
    'bad.wild.test': '127.0.0.1',
    'denied.test': '127.0.0.1',
    'stub.test': '127.0.0.1',
    'broker.test': '127.0.0.1',
    'secure.test': '127.0.0.1',
  }
  proxy = await EgressProxy.start({
    host: '127.0.0.1',
    resolver: { hosts: mapped, servers: [`127.0.0.1:${dns.port}`], timeoutMs: 2000 },
    stubs: [{ name: 'payments', domains: ['stub.test'], response: { status: 201, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' } }],
    credentials: [
      { domains: ['broker.test'], headers: { authorization: { secret: 'api-token', format: 'Bearer {secret}' } } },
      { domains: ['secure.test'], headers: { authorization: { secret: 'api-token', format: 'Bearer {secret}' } }, terminateTls: true },
    ],
    ca,
    upstreamCa: [cert.cert],
    secretValue: async (project, name) => (project === 'prj_test' && name === 'api-token' ? 's3cr3t-value' : undefined),
    connectTimeoutMs: 500,
    onEvent: (e) => events.push(e),
    log,
  })
  proxy.attach({ id: 'sbx_test', projectId: 'prj_test' }, '127.0.0.1', policy)
})

afterAll(async () => {
  await proxy?.close()
  await upstream?.close()
  await dns?.close()
  await new Promise<void>((r) => (tls ? tls.close(() => r()) : r()))
  await new Promise<void>((r) => (https ? (https.closeAllConnections(), https.close(() => r())) : r()))
  if (caDir) rmSync(caDir, { recursive: true, force: true })
})

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

function viaProxy(url: string, opts: { method?: string; body?: string; headers?: Record<string, string>; localAddress?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxy.httpPort,
        method: opts.method ?? 'GET',
        path: url,
        headers: opts.headers ?? {},
        agent: false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

function connectTunnel(target: string): Promise<{ status: number; socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.httpPort, method: 'CONNECT', path: target, agent: false })
    // Node hands every answer to a CONNECT to 'connect', whatever its status; a refusal's body follows on the socket.
    req.on('connect', (res, socket, first: Buffer) => {
      if (res.statusCode === 200) return resolve({ status: 200, socket, head: '' })
      let body = first.toString()
      socket.on('data', (d: Buffer) => (body += d.toString()))
      socket.on('close', () => resolve({ status: res.statusCode ?? 0, socket, head: `${res.headers['x-tidepool-egress']}|${body}` }))
    })
    req.on('error', reject)
    req.end()
  })
}

function tlsGet(socket: Socket, servername: string, trust = cert.cert): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = tlsConnect({ socket, servername, ca: trust })
    let out = ''
    t.on('secureConnect', () => t.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`))
    t.on('data', (d: Buffer) => (out += d.toString()))
    let secure = false
    t.on('secureConnect', () => (secure = true))
    t.on('close', () => (secure ? resolve(out) : reject(new Error('closed before the TLS handshake completed'))))
    t.on('error', reject)
  })
}

async function eventFor(host: string, protocol?: string): Promise<EgressEvent> {
  for (let i = 0; i < 200; i++) {
    const e = events.findLast((x) => x.host === host && (!protocol || x.protocol === protocol))
    if (e) return e
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`no event for ${host}`)
}

describe('egress proxy', () => {
  it('forwards an allowed domain over plain HTTP, and records it', async () => {
    const r = await viaProxy(`http://allowed.test:${upstream.port}/a?b=1`)
    expect(r).toMatchObject({ status: 200, body: 'hello /a?b=1' })
    expect(upstream.seen.at(-1)?.headers.host).toBe(`allowed.test:${upstream.port}`)
    const e = await eventFor('allowed.test', 'http')
    expect(e).toMatchObject({ sandboxId: 'sbx_test', project: 'prj_test', verdict: 'allowed', port: upstream.port, bytesDown: 'hello /a?b=1'.length })
  })

  it('refuses a domain that is not allowed with a 403 naming the rule', async () => {
    const r = await viaProxy(`http://denied.test:${upstream.port}/`)
    expect(r.status).toBe(403)
    expect(r.headers['x-tidepool-egress']).toBe('denied')
    expect(r.body).toContain('not in allowedDomains (project)')
    expect((await eventFor('denied.test')).verdict).toBe('denied')
  })

  it('wildcards allow subdomains, and a deny rule wins', async () => {
    expect((await viaProxy(`http://api.wild.test:${upstream.port}/`)).status).toBe(200)
    const r = await viaProxy(`http://bad.wild.test:${upstream.port}/`)
    expect(r.status).toBe(403)
    expect(r.body).toContain('deniedDomains bad.wild.test (sandbox)')
  })

  it('tunnels HTTPS through CONNECT to a real TLS server, SNI matching', async () => {
    const t = await connectTunnel(`allowed.test:${tlsPort}`)
    expect(t.status).toBe(200)
    expect(await tlsGet(t.socket, 'allowed.test')).toContain('tls hello')
    const e = await eventFor('allowed.test', 'connect')
    expect(e.verdict).toBe('allowed')
    expect(e.bytesUp).toBeGreaterThan(100)
    expect(e.bytesDown).toBeGreaterThan(100)
  })

  it('closes a CONNECT tunnel whose TLS server name is not the CONNECT host', async () => {
    const t = await connectTunnel(`allowed.test:${tlsPort}`)
    expect(t.status).toBe(200)
    await expect(tlsGet(t.socket, 'denied.test')).rejects.toThrow()
    const e = await eventFor('allowed.test', 'connect')
    expect(e.verdict).toBe('denied')
    expect(e.rule).toBe('TLS server name denied.test does not match the CONNECT host allowed.test')
  })

  it('refuses CONNECT to a denied host with a 403', async () => {
    const t = await connectTunnel(`denied.test:${tlsPort}`)
    expect(t.status).toBe(403)
    expect(t.head).toContain('denied|tidepool egress proxy: CONNECT to denied.test')
  })

  it('speaks SOCKS5: allowed name connects, denied name gets reply 2 (not allowed by ruleset)', async () => {
    const s = await socksConnect(proxy.socksPort, 'allowed.test', upstream.port)
    const reply = await new Promise<string>((resolve) => {
      let out = ''
      s.on('data', (d: Buffer) => (out += d.toString()))
      s.on('end', () => resolve(out))
      s.write('GET /socks HTTP/1.1\r\nhost: allowed.test\r\nconnection: close\r\n\r\n')
    })
    expect(reply).toContain('hello /socks')
    expect((await eventFor('allowed.test', 'socks')).verdict).toBe('allowed')
    await expect(socksConnect(proxy.socksPort, 'denied.test', upstream.port)).rejects.toMatchObject({ reply: 2 })
  })

  it('refuses connections from an address no sandbox is attached at', async () => {
    await expect(viaProxy(`http://allowed.test:${upstream.port}/`, { localAddress: '127.0.0.2' })).rejects.toThrow()
    await expect(socksConnect(proxy.socksPort, 'allowed.test', upstream.port, '127.0.0.2')).rejects.toThrow()
    expect(proxy.counters().refusedConnections).toBeGreaterThanOrEqual(2)
  })

  it.each([
    ['private.test', 'loopback address 127.0.0.1'],
    ['ten.test', 'private address 10.0.0.1'],
    ['meta.test', 'link-local or metadata address 169.254.169.254'],
  ])('refuses %s: its DNS answer is not public (%s) and the name is not mapped', async (name, why) => {
    const before = upstream.seen.length
    const r = await viaProxy(`http://${name}:${upstream.port}/`)
    expect(r.status).toBe(403)
    expect(r.body).toContain(why)
    expect(upstream.seen.length).toBe(before)
  })

  it('resolves once per connection and connects to the address it checked (DNS rebinding)', async () => {
    const before = upstream.seen.length
    // First answer public (192.0.2.1, unreachable here), second private: a proxy that resolved again to connect would reach 127.0.0.1.
    const first = await viaProxy(`http://rebind.test:${upstream.port}/`)
    expect(first.status).toBe(502)
    expect(first.headers['x-tidepool-egress']).toBe('error')
    const second = await viaProxy(`http://rebind.test:${upstream.port}/`)
    expect(second.status).toBe(403)
    expect(second.body).toContain('loopback address 127.0.0.1')
    expect(upstream.seen.length).toBe(before)
    expect(dns.queries.filter((q) => q === 'rebind.test')).toHaveLength(2)
  })

  it('a stub answers instead of the real service and records what it was sent (credentials removed)', async () => {
    const before = upstream.seen.length
    const r = await viaProxy('http://stub.test/v1/charges', { method: 'POST', body: '{"amount":42}', headers: { 'content-type': 'application/json', authorization: 'Bearer leaked' } })
    expect(r).toMatchObject({ status: 201, body: '{"ok":true}' })
    expect(upstream.seen.length).toBe(before)
    const e = await eventFor('stub.test')
    expect(e).toMatchObject({ verdict: 'stubbed', stub: 'payments', call: { method: 'POST', path: '/v1/charges', body: '{"amount":42}', truncated: false } })
    expect(e.call?.headers.authorization).toBeUndefined()
    expect(e.call?.headers['content-type']).toBe('application/json')
  })

  it('brokers a credential: the upstream gets the header, the client never sees the secret', async () => {
    const r = await viaProxy(`http://broker.test:${upstream.port}/me`)
    expect(r.status).toBe(200)
    expect(upstream.seen.at(-1)?.headers.authorization).toBe('Bearer s3cr3t-value')
    expect(JSON.stringify(r)).not.toContain('s3cr3t')
    expect(JSON.stringify(await eventFor('broker.test'))).not.toContain('s3cr3t')
  })

  it('brokers a credential into HTTPS where the rule terminates TLS with the tidepool CA', async () => {
    const t = await connectTunnel(`secure.test:${httpsPort}`)
    expect(t.status).toBe(200)
    const reply = await tlsGet(t.socket, 'secure.test', ca.certPem) // the sandbox trusts tidepool's CA
    expect(reply).toContain('secure hello')
    expect(reply).not.toContain('s3cr3t')
    expect(httpsSeen.at(-1)?.authorization).toBe('Bearer s3cr3t-value')
    const e = await eventFor('secure.test', 'connect')
    expect(e).toMatchObject({ verdict: 'allowed', rule: expect.stringContaining('TLS terminated') })
    expect(proxy.caCertificatePem()).toContain('BEGIN CERTIFICATE')
  })

  it('a terminated tunnel still refuses a TLS server name other than the CONNECT host', async () => {
    const t = await connectTunnel(`secure.test:${httpsPort}`)
    // A client that accepts any certificate, so that the proxy's own check is what refuses it.
    const closed = new Promise<void>((resolve) => {
      const c = tlsConnect({ socket: t.socket, servername: 'other.test', rejectUnauthorized: false })
      c.on('error', () => {})
      c.on('close', () => resolve())
    })
    await closed
    const e = await eventFor('secure.test', 'connect')
    expect(e).toMatchObject({ verdict: 'denied', rule: 'TLS server name other.test does not match the CONNECT host secure.test' })
    expect(httpsSeen.filter((h) => h.host === 'other.test')).toEqual([])
  })

  it('a policy change applies to new connections', async () => {
    proxy.setPolicy('sbx_test', effectivePolicy({ project: { allowedDomains: ['allowed.test'], deniedDomains: [] }, sandbox: { allowedDomains: [], deniedDomains: ['allowed.test'] } }))
    expect((await viaProxy(`http://allowed.test:${upstream.port}/`)).status).toBe(403)
    proxy.setPolicy('sbx_test', policy)
    expect((await viaProxy(`http://allowed.test:${upstream.port}/`)).status).toBe(200)
  })

  it('detach refuses the address from then on', async () => {
    proxy.detach('sbx_test')
    await expect(viaProxy(`http://allowed.test:${upstream.port}/`)).rejects.toThrow()
    proxy.attach({ id: 'sbx_test', projectId: 'prj_test' }, '127.0.0.1', policy)
    expect((await viaProxy(`http://allowed.test:${upstream.port}/`)).status).toBe(200)
  })

  it('gives a sandbox the proxy variables', () => {
    const env = proxy.proxyEnv()
    expect(env).toMatchObject({
      HTTP_PROXY: `http://127.0.0.1:${proxy.httpPort}`,
      https_proxy: `http://127.0.0.1:${proxy.httpPort}`,
      ALL_PROXY: `socks5h://127.0.0.1:${proxy.socksPort}`,
      NO_PROXY: 'localhost,127.0.0.1,::1',
    })
  })
})
