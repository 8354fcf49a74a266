/** @module router/relay — the router's header rules and its own answers: what is forwarded each way, and 502/504/404 bodies. */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

export const SERVED_BY = 'x-tidepool-served-by'

/** Hop-by-hop headers (RFC 9110 §7.6.1): never forwarded. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

/** An upstream resolved once: its URL (for a URL upstream) or how to open a stream into its sandbox. */
export interface Target {
  /** Names the upstream in errors and pools: its origin, or sandbox:<id>:<port>. */
  label: string
  url?: URL | undefined
  /** http.request's protocol, hostname and port of `url`, computed once. */
  at?: { protocol: string; hostname: string; port: number } | undefined
  sandbox?: { project: string; id: string; port: number } | undefined
  h2: boolean
}

/** The request's headers for the upstream: no hop-by-hop ones (except an upgrade's), Host of the upstream. */
export function forwardHeaders(req: IncomingMessage, upstream: Target, upgrade: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k === 'host' || k.charCodeAt(0) === 58 /* ':' an HTTP/2 pseudo-header */) continue
    if (hopByHop.has(k) && !(upgrade && (k === 'connection' || k === 'upgrade'))) continue
    out[k] = v
  }
  out.host = upstream.url ? upstream.url.host : 'localhost'
  const host = req.headers.host ?? req.headers[':authority']
  if (typeof host === 'string') out['x-forwarded-host'] = host
  return out
}

export function responseHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !hopByHop.has(k)) out[k] = v
  return out
}

export function target(u: URL): { protocol: string; hostname: string; port: number } {
  return { protocol: u.protocol, hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) }
}

/** The upstream's own path prefix (if it has one) before the request's path. */
export function joinPath(upstream: URL | undefined, path: string): string {
  if (!upstream) return path.startsWith('/') ? path : `/${path}`
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname
  return `${base}${path.startsWith('/') ? path : `/${path}`}`
}

export function describe(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'refused the connection (ECONNREFUSED): is it running?'
  if (err.code === 'ECONNRESET') return 'closed the connection before answering (ECONNRESET)'
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `has a host name that does not resolve (${err.code})`
  return `failed: ${err.code ?? err.message}`
}

export function plainError(res: ServerResponse, status: number, code: string, message: string, servedBy: string | undefined): void {
  if (res.headersSent) return void res.destroy()
  const body = JSON.stringify({ error: { code, message } })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(servedBy ? { [SERVED_BY]: servedBy } : {}) })
  res.end(body)
}

export function rawError(socket: Duplex, status: number, message: string, servedBy: string | undefined): void {
  if (socket.destroyed) return
  const body = JSON.stringify({ error: { code: status === 504 ? 'gateway_timeout' : status === 404 ? 'not_found' : 'bad_gateway', message } })
  const reason = status === 504 ? 'Gateway Timeout' : status === 404 ? 'Not Found' : status === 503 ? 'Service Unavailable' : 'Bad Gateway'
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${servedBy ? `${SERVED_BY}: ${servedBy}\r\n` : ''}connection: close\r\n\r\n${body}`,
  )
}
