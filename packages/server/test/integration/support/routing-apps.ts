/**
 * Real HTTP services on loopback for the routing tests: each answers GET /chain by calling the next
 * service through its routed URL, carrying the incoming W3C baggage onward with OpenTelemetry's
 * W3CBaggagePropagator (the propagation an application does), and returns the chain of who served.
 * Also an SSE + WebSocket echo server and a server that never answers.
 */
import { createHash } from 'node:crypto'
import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http'
import type { AddressInfo, LookupFunction, Socket } from 'node:net'
import { ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter } from '@opentelemetry/api'
import { W3CBaggagePropagator } from '@opentelemetry/core'

const propagator = new W3CBaggagePropagator()

/** `*.localhost` is loopback (RFC 6761); glibc does not resolve subdomains of it, so callers pass this lookup. */
export const localhostLookup: LookupFunction = (hostname, options, cb) => {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if ((options as { all?: boolean }).all) return (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }])
    return cb(null, '127.0.0.1', 4)
  }
  return cb(new Error(`only *.localhost here (got ${hostname})`) as NodeJS.ErrnoException, '', 4)
}
export const loopbackAgent = new Agent({ keepAlive: true, lookup: localhostLookup })

export interface Got {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

/** One GET to a routed URL (Host from the URL, connection to 127.0.0.1). */
export function get(url: string, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: loopbackAgent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export interface App {
  name: string
  server: Server
  url: string
  close(): Promise<void>
}

async function listen(server: Server): Promise<string> {
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  ;(server as Server & { sockets?: Set<Socket> }).sockets = sockets
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function closeHard(server: Server): Promise<void> {
  const closed = new Promise<void>((r) => server.close(() => r()))
  for (const s of (server as Server & { sockets?: Set<Socket> }).sockets ?? []) s.destroy()
  await closed
}

/** A service named `name`; /chain calls `next()` (a routed URL) when it returns one. */
export async function chainApp(name: string, next: () => string | undefined): Promise<App> {
  const server = createServer((req, res) => {
    void (async () => {
      const ctx = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter)
      const target = next()
      let chain = [name]
      let servedBy: string[] = []
      if (target) {
        const carrier: Record<string, string> = {}
        propagator.inject(ctx, carrier, defaultTextMapSetter)
        const got = await get(`${target}/chain`, carrier)
        if (got.status !== 200) {
          res.writeHead(got.status, { 'content-type': 'application/json' })
          return res.end(got.body)
        }
        const down = JSON.parse(got.body) as { chain: string[]; servedBy: string[] }
        chain = [name, ...down.chain]
        servedBy = [String(got.headers['x-tidepool-served-by']), ...down.servedBy]
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ chain, servedBy }))
    })().catch((err: unknown) => {
      res.writeHead(500)
      res.end(String(err))
    })
  })
  const url = await listen(server)
  return { name, server, url, close: () => closeHard(server) }
}

/** GET /sse: an event per GET /next (a test decides when, never a timer); /ws: WebSocket echo; other paths: the name. */
export async function streamApp(name: string): Promise<App & { next(): Promise<void>; clients(): number }> {
  const clients = new Set<import('node:http').ServerResponse>()
  let n = 0
  const server = createServer((req, res) => {
    if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
      res.write(`: ${name}\n\n`)
      clients.add(res)
      req.on('close', () => clients.delete(res))
      return
    }
    res.end(name)
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    let buf = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 6) {
        const op = buf[0]! & 0x0f
        const len = buf[1]! & 0x7f
        if (len > 125 || buf.length < 6 + len) break
        const mask = buf.subarray(2, 6)
        const data = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!))
        buf = buf.subarray(6 + len)
        if (op === 8) return void socket.end()
        const reply = Buffer.from(`${name}:${data.toString()}`)
        socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]))
      }
    })
  })
  const url = await listen(server)
  return {
    name,
    server,
    url,
    close: () => closeHard(server),
    next: async () => {
      n++
      for (const c of clients) c.write(`data: ${name} ${n}\n\n`)
    },
    clients: () => clients.size,
  }
}

/** Accepts connections and never answers (for the router's 504). */
export async function silentApp(): Promise<App> {
  const server = createServer(() => {})
  const url = await listen(server)
  return { name: 'silent', server, url, close: () => closeHard(server) }
}

/** One masked text frame (what a client sends), payload under 126 bytes. */
export function clientFrame(text: string): Buffer {
  const data = Buffer.from(text)
  const mask = Buffer.from([1, 2, 3, 4])
  return Buffer.concat([Buffer.from([0x81, 0x80 | data.length]), mask, Buffer.from(data.map((b, i) => b ^ mask[i % 4]!))])
}
