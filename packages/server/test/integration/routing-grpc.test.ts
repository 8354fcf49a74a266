/**
 * HTTP/2 and gRPC through the router, for real: gRPC servers on loopback (node:http2 speaking gRPC's
 * framing: length-prefixed messages, grpc-status in trailers) declared `protocol: 'h2c'`; a gRPC client
 * talks HTTP/2 by prior knowledge to the router's port. The key picks the fork, trailers arrive intact,
 * an HTTP/1.1 client reaches an h2c upstream too, and a dead h2c upstream is a 502 naming it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Http2Server, type IncomingHttpHeaders } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { get } from './support/routing-apps.js'

/** One gRPC message frame: compressed flag 0, 4-byte big-endian length, the bytes. */
const frame = (text: string) => {
  const body = Buffer.from(text)
  const head = Buffer.alloc(5)
  head.writeUInt32BE(body.length, 1)
  return Buffer.concat([head, body])
}
const unframe = (buf: Buffer) => buf.subarray(5, 5 + buf.readUInt32BE(1)).toString()

/** A unary gRPC method /greet.Greeter/SayHello answering "<name>: hello <request>", grpc-status 0 in trailers. */
async function grpcServer(name: string): Promise<{ server: Http2Server; url: string }> {
  const server = createServer()
  server.on('stream', (stream, headers) => {
    if (headers['content-type'] !== 'application/grpc' || headers[':path'] !== '/greet.Greeter/SayHello') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unimplemented' }, { endStream: true })
      return
    }
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok', 'x-served': name }))
      stream.end(frame(`${name}: hello ${unframe(Buffer.concat(chunks))} te=${headers.te}`))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** One unary call through the router as a gRPC client would make it (HTTP/2 prior knowledge). */
function call(routerPort: number, authority: string, msg: string, extra: Record<string, string> = {}) {
  return new Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders; reply: string }>((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${routerPort}`)
    session.on('error', reject)
    const req = session.request({ ':method': 'POST', ':path': '/greet.Greeter/SayHello', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers', ...extra })
    let headers: IncomingHttpHeaders = {}
    let trailers: IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    req.on('response', (h) => (headers = h))
    req.on('trailers', (t) => (trailers = t))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      session.close()
      const body = Buffer.concat(chunks)
      resolve({ headers, trailers, reply: body.length >= 5 ? unframe(body) : body.toString() })
    })
    req.on('error', reject)
    req.end(frame(msg))
  })
}

describe('gRPC and HTTP/2 through the router (real h2c servers on loopback)', () => {
  let home: string
  let cp: ControlPlane
  let api: ReturnType<typeof createClient>
  let routerPort: number
  const servers: Http2Server[] = []
  let authority: string

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-grpc-'))
    const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', port: 0, router: { port: 0, responseTimeoutMs: 2000 } } })
    cp = await buildControlPlane(config, { runtime: new FakeRuntime(), logger: silentLogger, reaper: false, router: true })
    const listening = await cp.listen()
    routerPort = listening.routerPort!
    api = createClient({ baseUrl: listening.url, token: cp.adminToken! })
    const base = await grpcServer('base')
    servers.push(base.server)
    const env = await api.createEnvironment({ name: 'grpcenv', services: [{ name: 'greet', upstream: base.url, protocol: 'h2c' }] })
    authority = new URL(env.services[0]!.url).host
  })

  afterAll(async () => {
    await cp?.close()
    for (const s of servers) s.close()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('relays a unary gRPC call to the baseline and, with the key, to the fork, trailers included', async () => {
    const unkeyed = await call(routerPort, authority, 'ada')
    expect(unkeyed.headers['x-tidepool-served-by']).toBe('greet@baseline')
    expect(unkeyed.reply).toBe('base: hello ada te=trailers')
    expect(unkeyed.trailers).toMatchObject({ 'grpc-status': '0', 'grpc-message': 'ok', 'x-served': 'base' })

    const forkServer = await grpcServer('fork')
    servers.push(forkServer.server)
    const fork = await api.createFork({ env: 'grpcenv', service: 'greet', upstream: forkServer.url, protocol: 'h2c' })
    const keyed = await call(routerPort, authority, 'bob', { baggage: `tidepool-route=${fork.routingKey}` })
    expect(keyed.headers['x-tidepool-served-by']).toBe(`greet@${fork.routingKey}`)
    expect(keyed.reply).toBe('fork: hello bob te=trailers')
    expect(keyed.trailers['grpc-status']).toBe('0')
    // Several calls at once share the upstream's session (multiplexed streams).
    const many = await Promise.all(['1', '2', '3', '4'].map((m) => call(routerPort, authority, m, { 'x-tidepool-route': fork.routingKey })))
    expect(many.map((r) => r.reply)).toEqual(['1', '2', '3', '4'].map((m) => `fork: hello ${m} te=trailers`))
  })

  it('lets an HTTP/1.1 client reach an h2c upstream, and answers 502 naming a dead h2c upstream', async () => {
    const h1 = await get(`http://${authority}/greet.Greeter/SayHello`)
    expect(h1.status).toBe(200)
    expect(h1.headers['x-tidepool-served-by']).toBe('greet@baseline')
    const dead = createServer()
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()))
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`
    await new Promise<void>((r) => dead.close(() => r()))
    await api.createFork({ env: 'grpcenv', service: 'greet', upstream: deadUrl, protocol: 'h2c', routingKey: 'gone' })
    const r = await call(routerPort, authority, 'x', { 'x-tidepool-route': 'gone' })
    expect(r.headers[':status']).toBe(502)
    expect(r.reply).toContain(deadUrl)
    expect(r.reply).toContain('ECONNREFUSED')
  })
})
