/**
 * @module http/port-proxy — the HTTP shell of port exposure: requests (any method, streaming both ways)
 * and WebSocket upgrades to a server inside a sandbox, on the host-name or the path form (port-target.ts).
 * Authorised by dispatch through the `connectPort` operation (scope, project, a running sandbox), whose
 * handler opens the stream this relays over; the caller's token never reaches the server inside.
 */
import { type IncomingMessage, type OutgoingHttpHeaders, STATUS_CODES, type ServerResponse, request as httpRequest } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { errorStatus, type Principal } from '@tidepool/sdk'
import type { MiddlewareHandler } from 'hono'
import { AppError, codeOf } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { dispatch } from '../dispatch/dispatch.js'
import type { Services } from '../dispatch/services.js'
import { TunnelResult } from '../kit/context.js'
import { PUBLIC_PORT_TOKEN_ID } from '../ports/service.js'
import { PORT_COOKIE, type PortTarget, portTargetOf, splitPortCookie } from './port-target.js'

/** Hop-by-hop headers (RFC 9110 §7.6.1) and what only concerns us: never forwarded on plain HTTP. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization', 'cookie'])
/** Tells @hono/node-server that the response was written on the Node objects directly. */
const alreadySent = () => new Response(null, { headers: { 'x-hono-already-sent': '1' } })

/**
 * The middleware createHttpApp installs first: a request for a sandbox's port is relayed on the Node
 * request and response themselves (streams both ways); every other request goes on to the routes.
 */
export function portProxy(svc: Services): MiddlewareHandler {
  return async (c, next) => {
    const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined
    // The request target as the client sent it (under @hono/node-server), not as URL parsing rewrote it.
    const target = portTargetOf(c.req.method, c.req.header('host'), env?.incoming?.url ?? pathAndQuery(c.req.url))
    if (!target) return next()
    const requestId = newId('req', 12)
    if (env?.incoming && env.outgoing) {
      await relayRequest(svc, target, env.incoming, env.outgoing, requestId)
      return alreadySent()
    }
    // In-process (app.request): authorised and validated like over the network, but nothing to relay on.
    try {
      const opened = await open(svc, target, { method: c.req.method, authorization: c.req.header('authorization'), cookie: c.req.header('cookie') }, requestId)
      if ('stream' in opened) opened.stream.destroy()
      throw new AppError('invalid_request', 'port exposure relays over the API server itself (tidepool up); an in-process app.request cannot carry it')
    } catch (err) {
      return c.json(errorBody(err, requestId), errorStatus[codeOf(err)])
    }
  }
}

/** The Node server's `upgrade` event: a WebSocket (or other upgrade) to a sandbox's port; anything else is refused. */
export function proxyPortUpgrade(svc: Services, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => {})
  const requestId = newId('req', 12)
  const target = portTargetOf(req.method ?? 'GET', req.headers.host, req.url ?? '/')
  if (!target) return refuseRaw(socket, new AppError('not_found', `no upgrade at ${req.method} ${(req.url ?? '').slice(0, 200)}; WebSockets are relayed to sandbox ports only`), requestId)
  open(svc, target, requestOf(req), requestId).then(
    (opened) => {
      if (!('stream' in opened)) return refuseRaw(socket, new AppError('invalid_request', 'a browser token (?access_token=) cannot be set on an upgrade; open the page first'), requestId)
      const { stream } = opened
      stream.on('error', () => socket.destroy())
      socket.on('close', () => stream.destroy())
      stream.write(requestHead(req, target, forwardedHeaders(req, target, true)))
      if (head.length > 0) stream.write(head)
      // From here on the bytes are the server's and the client's own (the 101 response, then frames).
      stream.pipe(socket)
      socket.pipe(stream)
    },
    (err: unknown) => refuseRaw(socket, err, requestId),
  )
}

async function relayRequest(svc: Services, target: PortTarget, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  let opened: Awaited<ReturnType<typeof open>>
  try {
    opened = await open(svc, target, requestOf(req), requestId)
  } catch (err) {
    if (codeOf(err) === 'internal') svc.log.error({ err, requestId }, 'port proxy: internal error')
    return sendError(res, err, requestId)
  }
  if ('redirect' in opened) {
    res.writeHead(302, { location: opened.redirect, 'set-cookie': opened.cookie, 'cache-control': 'no-store', 'x-request-id': requestId })
    return void res.end()
  }
  const { stream } = opened
  const upstream = httpRequest({
    method: req.method,
    path: target.forwardPath,
    headers: forwardedHeaders(req, target, false),
    // One stream per request: its end is the response's end, with no pool to leak into.
    createConnection: () => stream as Socket,
  })
  const abandon = () => {
    upstream.destroy()
    stream.destroy()
  }
  res.once('close', () => {
    if (!res.writableFinished) abandon()
  })
  upstream.once('error', (err) => {
    stream.destroy()
    if (res.headersSent) return void res.destroy() // the client sees the body cut short, never a silent end
    sendError(res, new AppError('bad_gateway', `port ${target.port} of sandbox ${target.id}: the server closed the connection without a response (${err.message})`), requestId)
  })
  upstream.once('response', (up) => {
    const headers: OutgoingHttpHeaders = {}
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !hopByHop.has(k) && k !== 'set-cookie') headers[k] = v
    // The server's own cookies pass through; ours never came from it.
    if (up.headers['set-cookie']) headers['set-cookie'] = up.headers['set-cookie']
    res.writeHead(up.statusCode ?? 502, up.statusMessage, headers)
    res.flushHeaders() // an event stream's headers go out before its first event
    up.on('aborted', () => res.destroy())
    up.on('error', () => res.destroy())
    up.pipe(res)
  })
  req.pipe(upstream)
}

type Opened = { stream: Duplex } | { redirect: string; cookie: string }

/**
 * Authenticates (Bearer, our cookie, or `?access_token=`: then a redirect that sets the cookie; no
 * token at all on the host-name form: a public port's project), then dispatches connectPort.
 */
/** What open() reads of a request. */
interface Asking {
  method: string
  authorization: string | undefined
  cookie: string | undefined
}

const requestOf = (req: IncomingMessage): Asking => ({ method: req.method ?? 'GET', authorization: req.headers.authorization, cookie: req.headers.cookie })

async function open(svc: Services, target: PortTarget, req: Asking, requestId: string): Promise<Opened> {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.authorization ?? '')?.[1]?.trim()
  const cookie = splitPortCookie(req.cookie).token
  let principal: Principal
  if (target.accessToken !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
    await svc.tokens.authenticate(target.accessToken) // a bad token is refused here, before any cookie is set
    const cookieValue = `${PORT_COOKIE}=${encodeURIComponent(target.accessToken)}; Path=${target.cookiePath}; HttpOnly; SameSite=Lax`
    const location = target.form === 'host' ? target.forwardPath : `${target.cookiePath}${target.forwardPath === '/' ? '/' : target.forwardPath}`
    return { redirect: location, cookie: cookieValue }
  }
  const token = bearer ?? target.accessToken ?? (cookie === undefined ? undefined : safeDecode(cookie))
  if (token !== undefined) principal = await svc.tokens.authenticate(token)
  else {
    const project = target.form === 'host' ? await svc.ports.publicProject(target.id, Number(target.port)) : undefined
    if (project === undefined) await svc.tokens.authenticate(undefined) // throws unauthenticated, with the usual hint
    principal = { tokenId: PUBLIC_PORT_TOKEN_ID, name: 'public port', project: project!, scopes: ['sandboxes:write'] }
  }
  const log = svc.log.child({ requestId, shell: 'port-proxy' })
  const result = await dispatch('connectPort', { id: target.id, port: target.port }, { principal, requestId, log }, svc)
  if (!(result instanceof TunnelResult)) throw new AppError('internal', 'connectPort returned no stream')
  return { stream: result.stream }
}

/** The client's headers for the server inside: no hop-by-hop ones (except an upgrade's), no token, no cookie of ours. */
function forwardedHeaders(req: IncomingMessage, target: PortTarget, upgrade: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k === 'host') continue
    if (hopByHop.has(k) && !(upgrade && (k === 'connection' || k === 'upgrade'))) continue
    out[k] = v
  }
  const rest = splitPortCookie(req.headers.cookie).rest
  if (rest !== undefined) out.cookie = rest
  // The host-name form keeps its name (dev servers build links from it); the path form's server sees its own.
  out.host = target.form === 'host' ? (req.headers.host ?? `localhost:${target.port}`) : `localhost:${target.port}`
  out['x-forwarded-host'] = req.headers.host ?? ''
  out['x-forwarded-proto'] = 'http'
  if (req.socket.remoteAddress) out['x-forwarded-for'] = req.socket.remoteAddress
  if (target.form === 'path') out['x-forwarded-prefix'] = target.cookiePath
  if (!upgrade) out.connection = 'close'
  return out
}

/** An upgrade request's head as the server inside receives it. */
function requestHead(req: IncomingMessage, target: PortTarget, headers: Record<string, string | string[]>): string {
  const lines = [`${req.method} ${target.forwardPath} HTTP/1.1`]
  // Node refused CR and LF in header values when it parsed them: each value is one line.
  for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

function sendError(res: ServerResponse, err: unknown, requestId: string): void {
  if (res.headersSent) return void res.destroy()
  const body = JSON.stringify(errorBody(err, requestId))
  res.writeHead(errorStatus[codeOf(err)], { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': requestId })
  res.end(body)
}

/** An error answered on a raw socket (an upgrade that is refused), then closed. */
function refuseRaw(socket: Duplex, err: unknown, requestId: string): void {
  const status = errorStatus[codeOf(err)]
  const body = JSON.stringify(errorBody(err, requestId))
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  )
}

function errorBody(err: unknown, requestId: string) {
  const code = codeOf(err)
  const message = code === 'internal' ? `internal error; the server log has the details under requestId ${requestId}` : (err as Error).message
  return { error: { code, message, requestId } }
}

function pathAndQuery(url: string): string {
  const u = new URL(url)
  return `${u.pathname}${u.search}`
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}
