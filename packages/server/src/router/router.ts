/**
 * @module router/router — the request router: an HTTP server on its own port that sends each request for
 * `<service>.<env>.localhost` to the fork of the request's routing key when that service has one, else to
 * the baseline (a fallback, never an error). Keep-alive pools per upstream, streaming bodies both ways,
 * WebSocket upgrades, `x-tidepool-served-by` on every response, 502/504 naming the upstream.
 */
import { Agent as HttpAgent, type ClientRequest, type IncomingMessage, request as httpRequest, type RequestOptions, type ServerResponse } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../core/log.js'
import type { RouterConfig } from './config.js'
import { H2cPool, h2RequestHeaders, relayH2 } from './h2c.js'
import { RouterListener } from './listener.js'
import type { RouteMetrics } from './metrics.js'
import { parseHost, routeKeyOf } from './route-key.js'
import { describe, forwardHeaders, joinPath, plainError, rawError, responseHeaders, SERVED_BY, type Target, target } from './relay.js'
import { type Hop, RouteTraces, traceIdOf } from './traces.js'
import { stripRouting, TOKEN_HEADER } from './trust.js'

export { SERVED_BY }

/** Where a service or fork answers: a URL, or a port inside a sandbox (reached through `connectSandbox`). */
export interface RouteUpstream {
  url?: string | undefined
  sandbox?: string | undefined
  port?: number | undefined
  /** h2c: HTTP/2 by prior knowledge (gRPC); default HTTP/1.1. */
  protocol?: 'http1' | 'h2c' | undefined
}

/** What the router needs of one environment: each service's baseline and its forks by routing key. */
export interface RouteEnvironment {
  name: string
  project: string
  services: Map<string, { baseline: RouteUpstream; forks: Map<string, RouteUpstream> }>
}

/** Something worth an event: a key with no fork (fallback) or an upstream that failed (502/504). */
export interface RouteNotice {
  project: string
  env: string
  kind: 'route_fallback' | 'route_error'
  data: Record<string, unknown>
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
  /** A stream to a port inside a sandbox of `project` (main.ts: the runtime's connectPort); absent: sandbox upstreams answer 502. */
  connectSandbox?: (project: string, sandbox: string, port: number) => Promise<Duplex>
  /** Per-request hops by trace id (tidepool env trace); one is made when absent. */
  traces?: RouteTraces
  /** Fallbacks and upstream errors, at most one per route and kind every `noticeEveryMs` (the event stream is not a request log). */
  notice?: (n: RouteNotice) => void
  noticeEveryMs?: number
}

/** A cached table is re-read after this long even without a change (fork TTLs end this way). */
const TABLE_MAX_AGE_MS = 1000

interface Picked {
  env: string
  project: string
  service: string
  upstream: Target
  /** 'baseline' or the fork's key. */
  target: string
  /** The key the request carried (also when it fell back). */
  key: string | undefined
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
  readonly #targets = new Map<string, Target>()
  readonly #h2 = new H2cPool()
  readonly #noticed = new Map<string, number>()
  readonly traces: RouteTraces
  #table: { at: number; table: Promise<Map<string, RouteEnvironment>> } | undefined
  #listener: RouterListener | undefined
  #unsubscribe: (() => void) | undefined

  constructor(deps: RouterDeps) {
    this.#deps = deps
    this.traces = deps.traces ?? new RouteTraces()
  }

  async listen(port = this.#deps.config.port, host = this.#deps.config.host): Promise<{ port: number; url: string }> {
    this.#unsubscribe = this.#deps.source.onChange(() => (this.#table = undefined))
    this.#listener = new RouterListener({
      request: (req, res) => void this.#handle(req, res),
      upgrade: (req, socket, head) => void this.#upgrade(req, socket, head),
    })
    const bound = await this.#listener.listen(port, host)
    this.#deps.metrics.running = true
    return { port: bound, url: `http://${host}:${bound}` }
  }

  async close(): Promise<void> {
    this.#unsubscribe?.()
    this.#deps.metrics.running = false
    await this.#listener?.close()
    this.#listener = undefined
    for (const a of this.#agents.values()) a.destroy()
    this.#agents.clear()
    this.#h2.close()
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
    const authority = req.headers.host ?? req.headers[':authority']
    const host = parseHost(typeof authority === 'string' ? authority : undefined)
    if (!host) return { status: 404, message: `the router serves <service>.<env>.localhost hosts (got ${JSON.stringify(String(authority ?? '').slice(0, 100))})` }
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
    return {
      env: host.env,
      project: env.project,
      service: host.service,
      upstream: this.#target(env.project, fork ?? svc.baseline),
      target: fork ? key! : 'baseline',
      key,
      fallback: key !== undefined && !fork,
    }
  }

  /** Upstreams resolved once (the table holds them as text). */
  #target(project: string, up: RouteUpstream): Target {
    const id = up.sandbox ? `${project}/${up.sandbox}:${up.port}/${up.protocol ?? ''}` : `${up.url}/${up.protocol ?? ''}`
    let t = this.#targets.get(id)
    if (!t) {
      if (this.#targets.size > 10_000) this.#targets.clear()
      const h2 = up.protocol === 'h2c'
      t = up.sandbox
        ? { label: `sandbox:${up.sandbox}:${up.port}`, sandbox: { project, id: up.sandbox, port: up.port! }, h2 }
        : (() => {
            const url = new URL(up.url!)
            return { label: url.origin, url, at: target(url), h2 }
          })()
      this.#targets.set(id, t)
    }
    return t
  }

  /** http.request options reaching the target: a pooled agent for a URL, a stream into the sandbox otherwise. */
  #connectOptions(t: Target, upgrade: boolean): RequestOptions {
    if (t.url) return { ...t.at!, agent: upgrade ? false : this.#agent(t.url) }
    const sbx = t.sandbox!
    const connect = this.#deps.connectSandbox
    return {
      host: 'sandbox.invalid',
      createConnection: ((_o: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
        if (!connect) return void cb(new Error('this router cannot reach sandboxes (run it inside tidepool up)'))
        connect(sbx.project, sbx.id, sbx.port).then(
          (s) => cb(null, s),
          (err: Error) => cb(err),
        )
        return undefined
      }) as unknown as RequestOptions['createConnection'],
    }
  }

  #send(t: Target, opts: RequestOptions): ClientRequest {
    return t.url?.protocol === 'https:' ? httpsRequest(opts) : httpRequest(opts)
  }

  /** A fallback or an error, as an event at most once per route and kind in noticeEveryMs. */
  #notice(p: Picked, kind: RouteNotice['kind'], data: Record<string, unknown>): void {
    if (!this.#deps.notice) return
    const id = `${p.env}\0${p.service}\0${p.key ?? ''}\0${kind}`
    const now = Date.now()
    const last = this.#noticed.get(id)
    if (last !== undefined && now - last < (this.#deps.noticeEveryMs ?? 60_000)) return
    if (this.#noticed.size > 10_000) this.#noticed.clear()
    this.#noticed.set(id, now)
    this.#deps.notice({ project: p.project, env: p.env, kind, data: { service: p.service, key: p.key, target: p.target, upstream: p.upstream.label, ...data } })
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
    const traceId = traceIdOf(req.headers)
    if (p.fallback) this.#notice(p, 'route_fallback', {})
    const record = (status: number) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const error = status === 502 || status === 504
      this.#deps.metrics.record(p.env, p.service, p.target, { ms, fallback: p.fallback, error })
      const hop: Hop = { at: Date.now(), service: p.service, target: p.target, key: p.key, status, ms, fallback: p.fallback }
      this.traces.add(p.env, traceId.id, hop)
    }
    // Every hop carries a trace id onward: the router starts one when the client sent none.
    if (traceId.made) req.headers.traceparent = traceId.header
    const { connectTimeoutMs, responseTimeoutMs } = this.#deps.config
    let answered = false
    let abort = () => undefined as void
    const fail = (status: 502 | 504, why: string) => {
      if (answered) return
      answered = true
      clearTimeout(timer)
      record(status)
      this.#notice(p, 'route_error', { status, why })
      abort()
      req.resume()
      plainError(res, status, status === 502 ? 'bad_gateway' : 'gateway_timeout', `upstream ${p.upstream.label} of ${servedBy} (environment ${p.env}) ${why}`, servedBy)
    }
    const answer = (status: number, headers: Record<string, string | string[]>): boolean => {
      if (answered) return false
      answered = true
      clearTimeout(timer)
      record(status)
      headers[SERVED_BY] = servedBy
      res.writeHead(status, headers)
      // A body of unknown length may be a stream (SSE): the client gets the headers now, not with the first event.
      if (headers['content-length'] === undefined) res.flushHeaders()
      return true
    }
    let timer = setTimeout(() => fail(504, `did not accept a connection within ${connectTimeoutMs} ms`), connectTimeoutMs)
    const connected = () => {
      clearTimeout(timer)
      if (!answered) timer = setTimeout(() => fail(504, `sent no response within ${responseTimeoutMs} ms`), responseTimeoutMs)
    }
    if (p.upstream.h2) return this.#handleH2(req, res, p, { connected, fail, answer, setAbort: (fn) => (abort = fn) })
    const up = this.#send(p.upstream, {
      ...this.#connectOptions(p.upstream, false),
      method: req.method,
      path: joinPath(p.upstream.url, req.url ?? '/'),
      headers: forwardHeaders(req, p.upstream, false),
    })
    abort = () => void up.destroy()
    // One timer: first for the connection, then (once connected) for the response headers.
    up.once('socket', (s: Socket) => {
      if (s.connecting) s.once('connect', connected)
      else connected()
    })
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (!answered) return fail(502, describe(err))
      res.destroy(err) // mid-body: the client sees the stream end, never a hang
    })
    up.on('response', (upRes) => {
      if (!answer(upRes.statusCode ?? 502, responseHeaders(upRes.headers))) return upRes.resume()
      upRes.pipe(res)
      upRes.on('error', (err) => res.destroy(err))
      upRes.on('aborted', () => res.destroy())
    })
    res.on('close', () => {
      if (!res.writableFinished) up.destroy()
    })
    // No body (no length, not chunked): end at once instead of piping an empty stream.
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined && req.httpVersionMajor < 2) {
      req.resume()
      up.end()
    } else req.pipe(up)
  }

  /** An h2c upstream: one stream of the upstream's pooled session (trailers relayed). */
  async #handleH2(
    req: IncomingMessage,
    res: ServerResponse,
    p: Picked,
    ctl: { connected: () => void; fail: (status: 502 | 504, why: string) => void; answer: (status: number, h: Record<string, string | string[]>) => boolean; setAbort: (fn: () => void) => void },
  ): Promise<void> {
    const t = p.upstream
    const connect = this.#deps.connectSandbox
    const sbx = t.sandbox
    let session
    try {
      session = await this.#h2.session({
        label: t.label,
        origin: t.url?.origin,
        open: sbx ? () => (connect ? connect(sbx.project, sbx.id, sbx.port) : Promise.reject(new Error('this router cannot reach sandboxes'))) : undefined,
      })
    } catch (err) {
      return ctl.fail(502, describe(err as NodeJS.ErrnoException))
    }
    ctl.connected()
    const authority = t.url ? t.url.host : 'localhost'
    const forwardedHost = typeof req.headers.host === 'string' ? req.headers.host : (req.headers[':authority'] as string | undefined)
    const up = relayH2(session, req, res, h2RequestHeaders(req, joinPath(t.url, req.url ?? '/'), authority, forwardedHost), {
      onResponse: (status, headers) => ctl.answer(status, headers),
      onError: (err) => ctl.fail(502, describe(err)),
    })
    ctl.setAbort(() => void up.close())
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
    const traceId = traceIdOf(req.headers)
    if (traceId.made) req.headers.traceparent = traceId.header
    const hop = (status: number) => this.traces.add(p.env, traceId.id, { at: Date.now(), service: p.service, target: p.target, key: p.key, status, ms: 0, fallback: p.fallback })
    if (p.fallback) this.#notice(p, 'route_fallback', {})
    const up = this.#send(p.upstream, { ...this.#connectOptions(p.upstream, true), method: req.method, path: joinPath(p.upstream.url, req.url ?? '/'), headers: forwardHeaders(req, p.upstream, true) })
    const timer = setTimeout(() => {
      up.destroy()
      rawError(socket, 504, `upstream ${p.upstream.label} of ${servedBy} did not answer the upgrade within ${this.#deps.config.responseTimeoutMs} ms`, servedBy)
    }, this.#deps.config.responseTimeoutMs)
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      this.#deps.metrics.record(p.env, p.service, p.target, { ms: 0, fallback: p.fallback, error: true })
      hop(502)
      this.#notice(p, 'route_error', { status: 502, why: describe(err) })
      rawError(socket, 502, `upstream ${p.upstream.label} of ${servedBy} (environment ${p.env}) ${describe(err)}`, servedBy)
    })
    up.on('response', (upRes) => {
      // The upstream answered without switching protocols: relay that answer and close.
      clearTimeout(timer)
      hop(upRes.statusCode ?? 502)
      const lines = [`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}`, `${SERVED_BY}: ${servedBy}`, 'connection: close']
      for (const [k, v] of Object.entries(responseHeaders(upRes.headers))) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`)
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      upRes.pipe(socket)
    })
    up.on('upgrade', (upRes, upSocket, upHead) => {
      clearTimeout(timer)
      this.#deps.metrics.record(p.env, p.service, p.target, { ms: 0, fallback: p.fallback, error: false })
      hop(101)
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
