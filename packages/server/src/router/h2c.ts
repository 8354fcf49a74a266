/**
 * @module router/h2c — upstreams that speak HTTP/2 without TLS by prior knowledge (gRPC servers): one
 * multiplexed session per upstream, requests relayed as streams, trailers (grpc-status) relayed to the
 * client (HTTP/2 clients get real trailers; HTTP/1.1 clients get them on a chunked body).
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, type IncomingHttpHeaders as H2Headers, type OutgoingHttpHeaders } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

/** Where an h2c request goes: an origin, or a stream into a sandbox opened for the session. */
export interface H2Target {
  label: string
  origin?: string | undefined
  open?: (() => Promise<Duplex>) | undefined
}

/** Hop-by-hop and HTTP/1-only headers that HTTP/2 forbids (RFC 9113 §8.2.2); `te: trailers` alone may pass. */
const forbidden = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings', 'proxy-authorization', 'proxy-authenticate', 'trailer'])

export class H2cPool {
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>()

  session(t: H2Target): Promise<ClientHttp2Session> {
    let s = this.#sessions.get(t.label)
    if (s) return s
    s = this.#open(t)
    this.#sessions.set(t.label, s)
    s.then(
      (session) => {
        const drop = () => {
          if (this.#sessions.get(t.label) === s) this.#sessions.delete(t.label)
        }
        session.once('close', drop)
        session.once('goaway', drop)
        session.once('error', drop)
      },
      () => this.#sessions.delete(t.label),
    )
    return s
  }

  async #open(t: H2Target): Promise<ClientHttp2Session> {
    const sock = t.open ? await t.open() : undefined
    const session = connect(t.origin ?? 'http://sandbox.invalid', sock ? { createConnection: () => sock } : {})
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve())
      session.once('error', reject)
    })
    session.on('error', () => undefined) // reported on its streams; the pool drops the session
    session.unref()
    return session
  }

  close(): void {
    for (const s of this.#sessions.values())
      s.then(
        (x) => x.destroy(),
        () => undefined,
      )
    this.#sessions.clear()
  }
}

/** The client's request headers as an HTTP/2 request to the upstream. */
export function h2RequestHeaders(req: IncomingMessage, path: string, authority: string, forwardedHost: string | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k.startsWith(':') || forbidden.has(k)) continue
    if (k === 'te' && v !== 'trailers') continue
    out[k] = v
  }
  out[':method'] = req.method ?? 'GET'
  out[':path'] = path
  out[':authority'] = authority
  out[':scheme'] = 'http'
  if (forwardedHost) out['x-forwarded-host'] = forwardedHost
  return out
}

/** The upstream's response headers for the client (no pseudo or connection headers). */
export function h2ResponseHeaders(h: H2Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !k.startsWith(':') && !forbidden.has(k)) out[k] = v as string | string[]
  return out
}

export interface H2Relay {
  /** The upstream's response headers arrived: write them to the client (false: the router already answered). */
  onResponse(status: number, headers: Record<string, string | string[]>): boolean
  /** Before any response: a 502 naming the upstream. */
  onError(err: NodeJS.ErrnoException): void
}

/** Sends the client's request as one stream of `session` and relays the answer, trailers included. */
export function relayH2(session: ClientHttp2Session, req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders, relay: H2Relay): ClientHttp2Stream {
  const noBody = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined && req.httpVersionMajor < 2
  const up = session.request(headers, { endStream: noBody })
  let started = false
  up.on('response', (h) => {
    started = true
    if (!relay.onResponse(Number(h[':status'] ?? 502), h2ResponseHeaders(h))) return void up.close()
    up.pipe(res)
  })
  up.on('trailers', (t) => res.addTrailers(h2ResponseHeaders(t)))
  up.on('error', (err: NodeJS.ErrnoException) => (started ? res.destroy(err) : relay.onError(err)))
  // A stream reset without an error (RST_STREAM NO_ERROR before a response) is an upstream failure too.
  up.on('close', () => {
    if (!started) relay.onError(Object.assign(new Error('stream closed'), { code: 'ECONNRESET' }))
  })
  res.on('close', () => {
    if (!res.writableFinished && !up.closed) up.close()
  })
  if (noBody) req.resume()
  else req.pipe(up)
  return up
}
