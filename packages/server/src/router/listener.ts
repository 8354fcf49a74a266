/**
 * @module router/listener — the router's port: HTTP/1.1 and HTTP/2 cleartext (prior knowledge, as gRPC
 * clients speak it) on one socket. The first bytes of a connection decide: the HTTP/2 preface goes to an
 * HTTP/2 server, anything else to the HTTP/1.1 server. Both hand requests to the same handler.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttp2Server, type Http2Server } from 'node:http2'
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { Duplex } from 'node:stream'

/** The client connection preface of HTTP/2 (RFC 9113 §3.4) begins with these bytes. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n')

export interface ListenerHandlers {
  request(req: IncomingMessage, res: ServerResponse): void
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
}

export class RouterListener {
  readonly #h1
  readonly #h2: Http2Server
  readonly #front: NetServer
  readonly #sockets = new Set<Socket>()

  constructor(handlers: ListenerHandlers) {
    this.#h1 = createHttpServer({ keepAlive: true, noDelay: true }, handlers.request)
    this.#h1.on('upgrade', handlers.upgrade)
    // The compatibility API hands Http2ServerRequest/Response, which the handler uses like IncomingMessage/ServerResponse.
    this.#h2 = createHttp2Server({}, handlers.request as unknown as Parameters<typeof createHttp2Server>[1])
    this.#front = createNetServer({ noDelay: true }, (s) => this.#accept(s))
  }

  #accept(s: Socket): void {
    this.#sockets.add(s)
    s.once('close', () => this.#sockets.delete(s))
    s.on('error', () => s.destroy())
    s.once('data', (first: Buffer) => {
      s.pause()
      const n = Math.min(first.length, PREFACE.length)
      if (n > 0 && first.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        // The HTTP/2 session reads the socket's handle directly and would miss bytes put back with
        // unshift: it gets a stream that starts with them instead.
        this.#h2.emit('connection', replaying(s, first))
        return
      }
      s.unshift(first)
      this.#h1.emit('connection', s)
      s.resume()
    })
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#front.once('error', reject)
      this.#front.listen(port, host, () => resolve())
    })
    return (this.#front.address() as AddressInfo).port
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.#front.close(() => r()))
    for (const s of this.#sockets) s.destroy()
    this.#h1.closeAllConnections()
    this.#h2.close()
    await closed
  }
}

/** A stream that reads `first`, then what `s` reads; writes go to `s`. */
function replaying(s: Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read: () => void s.resume(),
    write: (chunk: Buffer, _enc, cb) => void s.write(chunk, cb),
    final: (cb) => void s.end(cb),
    destroy: (err, cb) => {
      s.destroy(err ?? undefined)
      cb(err)
    },
  })
  d.push(first)
  s.on('data', (c: Buffer) => {
    if (!d.push(c)) s.pause()
  })
  s.once('end', () => d.push(null))
  s.once('close', () => d.destroy())
  s.resume()
  return d
}
