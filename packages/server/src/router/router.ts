/**
 * @module router/router — the request router: an HTTP server on its own port that sends each request for
 * `<service>.<env>.localhost` to the fork of the request's routing key when that service has one, else to
 * the baseline (a fallback, never an error). Keep-alive pools per upstream, streaming bodies both ways,
 * WebSocket upgrades, `x-tidepool-served-by` on every response, 502/504 naming the upstream.
 */
import { Agent as HttpAgent, createServer, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type Server, type ServerResponse } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../core/log.js'
import type { RouterConfig } from './config.js'
import type { RouteMetrics } from './metrics.js'
import { parseHost, routeKeyOf } from './route-key.js'
import { stripRouting, TOKEN_HEADER } from './trust.js'

export const SERVED_BY = 'x-tidepool-served-by'

/** What the router needs of one environment: each service's baseline and its forks by routing key (upstream URLs). */
export interface RouteEnvironment {
  name: string
  project: string
  services: Map<string, { baseline: string; forks: Map<string, string> }>
}

/** Where the router's table comes from: the environments service in-process, or the API (tidepool router). */
export interface RouteSource {
  routeTable(): Promise<Map<string, RouteEnvironment>>
  /** Calls `fn` when the table changed; returns the unsubscribe. */
  onChange(fn: () => void): () => void
}

export interface RouterDeps {
  source: RouteSource
  config: RouterConfig
  metrics: RouteMetrics
  log: Logger
  /** Whether a secret is a valid tidepool token (used when config.trustRoutingHeaders is false). */
  verifyToken?: (secret: string) => Promise<boolean>
}

/** A cached table is re-read after this long even without a change (fork TTLs end this way). */
const TABLE_MAX_AGE_MS = 1000

/** Hop-by-hop headers (RFC 9110 §7.6.1): never forwarded. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

interface Picked {
  env: string
  service: string
  upstream: URL
  /** 'baseline' or the fork's key. */
  target: string
  fallback: boolean
}

/** What the router answers itself when no upstream fits (unknown host or service). */
interface Answer {
  status: number
  message: string
}

export class RequestRouter {
  readonly #deps: RouterDeps
  readonly #agents = new Map<string, HttpAgent>()
  readonly #sockets = new Set<Duplex>()
  readonly #urls = new Map<string, URL>()
  #table: { at: number; table: Promise<Map<string, RouteEnvironment>> } | undefined
  #server: Server | undefined
  #unsubscribe: (() => void) | undefined

  constructor(deps: RouterDeps) {
    this.#deps = deps
  }

  async listen(port = this.#deps.config.port, host = this.#deps.config.host): Promise<{ port: number; url: string }> {
    this.#unsubscribe = this.#deps.source.onChange(() => (this.#table = undefined))
    const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => void this.#handle(req, res))
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(req, socket, head))
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.once('close', () => this.#sockets.delete(s))
    })
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    this.#deps.metrics.running = true
    const bound = (server.address() as AddressInfo).port
    return { port: bound, url: `http://${host}:${bound}` }
  }

  async close(): Promise<void> {
    this.#unsubscribe?.()
    this.#deps.metrics.running = false
    const server = this.#server
    this.#server = undefined
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()))
      for (const s of this.#sockets) s.destroy()
      await closed
    }
    for (const a of this.#agents.values()) a.destroy()
    this.#agents.clear()
  }

  async #tableNow(): Promise<Map<string, RouteEnvironment>> {
    const now = Date.now()
    if (!this.#table || now - this.#table.at > TABLE_MAX_AGE_MS) {
      const table = this.#deps.source.routeTable()
      this.#table = { at: now, table }
      table.catch(() => (this.#table = undefined))
    }
    return this.#table.table
  }

  /** The upstream of a request, or an answer when there is none (unknown host). */
  async #pick(req: IncomingMessage): Promise<Picked | Answer> {
    const host = parseHost(req.headers.host)
    if (!host) return { status: 404, message: `the router serves <service>.<env>.localhost hosts (got ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))})` }
    const env = (await this.#tableNow()).get(host.env)
    const svc = env?.services.get(host.service)
    if (!env || !svc) return { status: 404, message: `no service ${host.service} in environment ${host.env}` }
    let trusted = this.#deps.config.trustRoutingHeaders
    if (!trusted) {
      const token = req.headers[TOKEN_HEADER]
      trusted = typeof token === 'string' && this.#deps.verifyToken !== undefined && (await this.#deps.verifyToken(token))
      if (!trusted) stripRouting(req.headers)
    }
    delete req.headers[TOKEN_HEADER]
    const problems: string[] = []
    const key = routeKeyOf(trusted ? host : { env: host.env, service: host.service }, req.headers, problems)
    if (problems.length > 0) this.#deps.log.info({ env: host.env, service: host.service, problems }, 'router: a routing header carried no key (baseline)')
    const fork = key === undefined ? undefined : svc.forks.get(key)
    return { env: host.env, service: host.service, upstream: this.#url(fork ?? svc.baseline), target: fork ? key! : 'baseline', fallback: key !== undefined && !fork }
  }

  /** Upstream URLs parsed once (the table holds them as text). */
  #url(s: string): URL {
    let u = this.#urls.get(s)
    if (!u) {
      if (this.#urls.size > 10_000) this.#urls.clear()
      this.#urls.set(s, (u = new URL(s)))
    }
    return u
  }

  #agent(u: URL): HttpAgent {
    let a = this.#agents.get(u.origin)
    if (!a) {
      const opts = { keepAlive: true, maxSockets: this.#deps.config.maxSocketsPerUpstream, noDelay: true }
      a = u.protocol === 'https:' ? new HttpsAgent(opts) : new HttpAgent(opts)
      this.#agents.set(u.origin, a)
    }
    return a
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint()
    let picked: Picked | Answer
    try {
      picked = await this.#pick(req)
    } catch (err) {
      this.#deps.log.error({ err }, 'router: reading the routing table failed')
      return plainError(res, 503, 'unavailable', 'the router could not read its routing table; retry', undefined)
    }
    if (!('upstream' in picked)) return plainError(res, picked.status, 'not_found', picked.message, undefined)
    const p = picked
    const servedBy = `${p.service}@${p.target}`
    const record = (error: boolean) => this.#deps.metrics.record(p.env, p.service, p.target, { ms: Number(process.hrtime.bigint() - started) / 1e6, fallback: p.fallback, error })
    const send = p.upstream.protocol === 'https:' ? httpsRequest : httpRequest
    const up = send({ ...target(p.upstream), method: req.method, path: joinPath(p.upstream, req.url ?? '/'), headers: forwardHeaders(req, p.upstream, false), agent: this.#agent(p.upstream) })
    const { connectTimeoutMs, responseTimeoutMs } = this.#deps.config
    let answered = false
    const fail = (status: 502 | 504, why: string) => {
      if (answered) return
      answered = true
      clearTimeout(timer)
      record(true)
      up.destroy()
      req.resume()
      plainError(res, status, status === 502 ? 'bad_gateway' : 'gateway_timeout', `upstream ${p.upstream.origin} of ${servedBy} (environment ${p.env}) ${why}`, servedBy)
    }
    // One timer: first for the connection, then (once connected) for the response headers.
    let timer = setTimeout(() => fail(504, `did not accept a connection within ${connectTimeoutMs} ms`), connectTimeoutMs)
    up.once('socket', (s: Socket) => {
      const onConnect = () => {
        clearTimeout(timer)
        if (!answered) timer = setTimeout(() => fail(504, `sent no response within ${responseTimeoutMs} ms`), responseTimeoutMs)
      }
      if (s.connecting) s.once('connect', onConnect)
      else onConnect()
    })
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (!answered) return fail(502, describe(err))
      res.destroy(err) // mid-body: the client sees the stream end, never a hang
    })
    up.on('response', (upRes) => {
      if (answered) return upRes.resume()
      answered = true
      clearTimeout(timer)
      record(false)
      const headers = responseHeaders(upRes.headers)
      headers[SERVED_BY] = servedBy
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers)
      // A body of unknown length may be a stream (SSE): the client gets the headers now, not with the first event.
      if (upRes.headers['content-length'] === undefined) res.flushHeaders()
      upRes.pipe(res)
      upRes.on('error', (err) => res.destroy(err))
      upRes.on('aborted', () => res.destroy())
    })
    res.on('close', () => {
      if (!res.writableFinished) up.destroy()
    })
    // No body (no length, not chunked): end at once instead of piping an empty stream.
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      req.resume()
      up.end()
    } else req.pipe(up)
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    let picked: Picked | Answer
    try {
      picked = await this.#pick(req)
    } catch {
      return rawError(socket, 503, 'the router could not read its routing table; retry', undefined)
    }
    if (!('upstream' in picked)) return rawError(socket, picked.status, picked.message, undefined)
    const p = picked
    const servedBy = `${p.service}@${p.target}`
    const send = p.upstream.protocol === 'https:' ? httpsRequest : httpRequest
    const up = send({ ...target(p.upstream), method: req.method, path: joinPath(p.upstream, req.url ?? '/'), headers: forwardHeaders(req, p.upstream, true), agent: false })
    const timer = setTimeout(() => {
      up.destroy()
      rawError(socket, 504, `upstream ${p.upstream.origin} of ${servedBy} did not answer the upgrade within ${this.#deps.config.responseTimeoutMs} ms`, servedBy)
    }, this.#deps.config.responseTimeoutMs)
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      this.#deps.metrics.record(p.env, p.service, p.target, { ms: 0, fallback: p.fallback, error: true })
      rawError(socket, 502, `upstream ${p.upstream.origin} of ${servedBy} (environment ${p.env}) ${describe(err)}`, servedBy)
    })
    up.on('response', (upRes) => {
      // The upstream answered without switching protocols: relay that answer and close.
      clearTimeout(timer)
      const lines = [`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}`, `${SERVED_BY}: ${servedBy}`, 'connection: close']
      for (const [k, v] of Object.entries(responseHeaders(upRes.headers))) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`)
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      upRes.pipe(socket)
    })
    up.on('upgrade', (upRes, upSocket, upHead) => {
      clearTimeout(timer)
      this.#deps.metrics.record(p.env, p.service, p.target, { ms: 0, fallback: p.fallback, error: false })
      const lines = [`HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}`, `${SERVED_BY}: ${servedBy}`]
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) lines.push(`${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}`)
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      if (upHead.length > 0) socket.write(upHead)
      if (head.length > 0) upSocket.write(head)
      upSocket.on('error', () => socket.destroy())
      socket.on('close', () => upSocket.destroy())
      upSocket.on('close', () => socket.destroy())
      upSocket.pipe(socket)
      socket.pipe(upSocket)
    })
    up.end()
  }
}

/** The request's headers for the upstream: no hop-by-hop ones (except an upgrade's), Host of the upstream. */
function forwardHeaders(req: IncomingMessage, upstream: URL, upgrade: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k === 'host') continue
    if (hopByHop.has(k) && !(upgrade && (k === 'connection' || k === 'upgrade'))) continue
    out[k] = v
  }
  out.host = upstream.host
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host
  return out
}

function responseHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !hopByHop.has(k)) out[k] = v
  return out
}

function target(u: URL): { protocol: string; hostname: string; port: number } {
  return { protocol: u.protocol, hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) }
}

/** The upstream's own path prefix (if it has one) before the request's path. */
function joinPath(upstream: URL, path: string): string {
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname
  return `${base}${path.startsWith('/') ? path : `/${path}`}`
}

function describe(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'refused the connection (ECONNREFUSED): is it running?'
  if (err.code === 'ECONNRESET') return 'closed the connection before answering (ECONNRESET)'
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `has a host name that does not resolve (${err.code})`
  return `failed: ${err.code ?? err.message}`
}

function plainError(res: ServerResponse, status: number, code: string, message: string, servedBy: string | undefined): void {
  if (res.headersSent) return void res.destroy()
  const body = JSON.stringify({ error: { code, message } })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(servedBy ? { [SERVED_BY]: servedBy } : {}) })
  res.end(body)
}

function rawError(socket: Duplex, status: number, message: string, servedBy: string | undefined): void {
  if (socket.destroyed) return
  const body = JSON.stringify({ error: { code: status === 504 ? 'gateway_timeout' : status === 404 ? 'not_found' : 'bad_gateway', message } })
  const reason = status === 504 ? 'Gateway Timeout' : status === 404 ? 'Not Found' : status === 503 ? 'Service Unavailable' : 'Bad Gateway'
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${servedBy ? `${SERVED_BY}: ${servedBy}\r\n` : ''}connection: close\r\n\r\n${body}`,
  )
}
