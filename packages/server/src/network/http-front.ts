/**
 * @module network/http-front — the HTTP proxy front: absolute-form requests (`GET http://host/path`)
 * forwarded, stubbed or refused with a 403 that names the rule; CONNECT tunnels checked the same way.
 * No TLS interception: a CONNECT tunnel's bytes pass as they are (its ClientHello's SNI is checked).
 */
import { Agent, createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { admit, type Admission } from './admission.js'
import type { Attachment, EgressEvent, EgressProtocol } from './egress-types.js'
import { BoundedBody, connectTo, sourceAddress, stubCall, stubTarget, type ProxyCore } from './proxy-core.js'
import { runTunnel } from './tunnel.js'

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: never forwarded. */
const hopByHop = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade', 'host'])

export function createHttpFront(core: ProxyCore): Server {
  // Keep-alive to upstreams: a small GET through the proxy should cost one hop, not a TCP handshake too.
  const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 })
  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => {
    void handleRequest(core, agent, req, res).catch((err: unknown) => {
      core.log.error({ err }, 'egress proxy: request failed')
      if (!res.headersSent) res.writeHead(500).end()
      else res.destroy()
    })
  })
  server.on('connection', (s: Socket) => refuseUnknown(core, s))
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    void handleConnect(core, req, socket, head).catch((err: unknown) => {
      core.log.error({ err }, 'egress proxy: CONNECT failed')
      socket.destroy()
    })
  })
  server.on('clientError', (_err, socket: Socket) => socket.destroy())
  server.on('close', () => agent.destroy())
  return server
}

/** Connections from an address no sandbox is attached at are closed before a byte is read. */
export function refuseUnknown(core: ProxyCore, s: Socket): boolean {
  if (core.attachmentFor(s.remoteAddress)) return false
  core.log.warn({ source: sourceAddress(s.remoteAddress) }, 'egress proxy: refused a connection from an address no sandbox is attached at')
  s.destroy()
  return true
}

function refusalText(a: { host: string; rule: string }, port: number, what: string): string {
  return `tidepool egress proxy: ${what} to ${a.host}:${port} refused: ${a.rule}\n`
}

function denyHeaders(verdict: string, rule: string): Record<string, string> {
  return { 'content-type': 'text/plain; charset=utf-8', 'x-tidepool-egress': verdict, 'x-tidepool-egress-rule': encodeURIComponent(rule) }
}

async function handleRequest(core: ProxyCore, agent: Agent, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const att = core.attachmentFor(req.socket.remoteAddress)
  if (!att) return void req.socket.destroy()
  let url: URL
  try {
    url = new URL(req.url ?? '')
    if (url.protocol !== 'http:') throw new Error('not http')
  } catch {
    res.writeHead(400, denyHeaders('denied', 'not an absolute http:// URL')).end('tidepool egress proxy: send absolute-form http:// requests (use CONNECT for https)\n')
    return
  }
  const port = url.port ? Number(url.port) : 80
  const a = await admit(core.rules, att, url.hostname, port)
  const base = { sandboxId: att.sandboxId, project: att.project, protocol: 'http' as EgressProtocol, host: a.host, port }
  if (a.verdict === 'denied' || a.verdict === 'error') {
    req.resume()
    res.writeHead(403, denyHeaders(a.verdict, a.rule)).end(refusalText(a, port, `${req.method} http`))
    core.emit({ ...base, verdict: a.verdict, rule: a.rule, bytesUp: 0, bytesDown: 0 })
    return
  }
  const path = `${url.pathname}${url.search}`
  if (a.verdict === 'stubbed' && a.stub.response) {
    const body = new BoundedBody()
    let up = 0
    req.on('data', (d: Buffer) => ((up += d.length), body.add(d)))
    await new Promise<void>((r) => req.once('end', r).once('close', r))
    const { status, headers, body: text } = a.stub.response
    res.writeHead(status, { ...headers, 'x-tidepool-egress': 'stubbed' }).end(text)
    core.emit({
      ...base,
      verdict: 'stubbed',
      rule: a.rule,
      bytesUp: up,
      bytesDown: Buffer.byteLength(text),
      stub: a.stub.name,
      call: stubCall(req.method ?? 'GET', path, req.headers, body.bytes(), body.truncated),
    })
    return
  }
  const target = a.verdict === 'stubbed' ? stubTarget(a.stub) : { address: a.address, port }
  const headers = Object.create(null) as OutgoingHttpHeaders
  for (const [k, v] of Object.entries(req.headers)) if (!hopByHop.has(k) && v !== undefined) headers[k] = v
  headers.host = url.host
  if (a.verdict === 'allowed' && a.credentials) {
    for (const [name, h] of Object.entries(a.credentials.headers)) {
      const secret = await core.secretValue(att.project, h.secret)
      if (secret === undefined) {
        req.resume()
        const rule = `credential secret ${h.secret} is not set in project ${att.project}`
        res.writeHead(502, denyHeaders('error', rule)).end(refusalText({ host: a.host, rule }, port, 'brokered request'))
        core.emit({ ...base, verdict: 'error', rule, bytesUp: 0, bytesDown: 0 })
        return
      }
      headers[name.toLowerCase()] = (h.format ?? '{secret}').split('{secret}').join(secret)
    }
  }
  forward(core, agent, req, res, { ...target, path, headers, att, admission: a, base })
}

function forward(
  core: ProxyCore,
  agent: Agent,
  req: IncomingMessage,
  res: ServerResponse,
  o: {
    address: string
    port: number
    path: string
    headers: OutgoingHttpHeaders
    att: Attachment
    admission: Admission
    base: Omit<Parameters<ProxyCore['emit']>[0], 'verdict' | 'rule' | 'bytesUp' | 'bytesDown'>
  },
): void {
  let up = 0
  let down = 0
  let failure: string | undefined
  const stubbed = o.admission.verdict === 'stubbed' ? o.admission.stub.name : undefined
  const body = stubbed ? new BoundedBody() : undefined
  const upstream = request({ host: o.address, port: o.port, method: req.method, path: o.path, headers: o.headers, agent, setHost: false, timeout: core.connectTimeoutMs })
  upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' })))
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    failure ??= err.code ?? err.message
    if (!res.headersSent) res.writeHead(502, denyHeaders('error', `upstream ${failure}`)).end(refusalText({ host: o.base.host, rule: `upstream ${failure}` }, o.port, 'request'))
    else res.destroy()
  })
  upstream.on('response', (ur) => {
    const headers = Object.create(null) as OutgoingHttpHeaders
    for (const [k, v] of Object.entries(ur.headers)) if (!hopByHop.has(k) && v !== undefined) headers[k] = v
    res.writeHead(ur.statusCode ?? 502, headers)
    ur.on('data', (d: Buffer) => (down += d.length))
    ur.pipe(res)
  })
  req.on('data', (d: Buffer) => ((up += d.length), body?.add(d)))
  req.pipe(upstream)
  res.once('close', () => {
    if (!res.writableFinished) upstream.destroy()
    const verdict = failure ? 'error' : o.admission.verdict === 'stubbed' ? 'stubbed' : 'allowed'
    const rule = failure ? `upstream ${failure}` : o.admission.rule
    const call = body ? stubCall(req.method ?? 'GET', o.path, req.headers, body.bytes(), body.truncated) : undefined
    core.emit({ ...o.base, verdict, rule, bytesUp: up, bytesDown: down, stub: stubbed, call })
  })
}

async function handleConnect(core: ProxyCore, req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  const att = core.attachmentFor(socket.remoteAddress)
  if (!att) return void socket.destroy()
  socket.on('error', () => {})
  const target = req.url ?? ''
  const colon = target.lastIndexOf(':')
  const host = colon > 0 ? target.slice(0, colon) : target
  const port = colon > 0 ? Number(target.slice(colon + 1)) : NaN
  const a = await admit(core.rules, att, host, port)
  const base = { sandboxId: att.sandboxId, project: att.project, protocol: 'connect' as EgressProtocol, host: a.host, port: Number.isInteger(port) ? port : 0 }
  const refuse = (status: number, verdict: 'denied' | 'error', rule: string) => {
    const text = refusalText({ host: a.host, rule }, port, 'CONNECT')
    const h = denyHeaders(verdict, rule)
    socket.end(
      `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Gateway'}\r\n${Object.entries(h)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    )
    core.emit({ ...base, verdict, rule, bytesUp: 0, bytesDown: 0 })
  }
  if (a.verdict === 'denied' || a.verdict === 'error') return refuse(403, a.verdict, a.rule)
  if (a.verdict === 'stubbed' && !a.stub.url) return refuse(403, 'denied', `${a.rule} answers plain http:// only (a fixture; there is no TLS termination for stubs)`)
  if (a.verdict === 'allowed' && a.credentials?.terminateTls) {
    if (!core.terminator) return refuse(502, 'error', 'TLS termination is not available (no CA)')
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    return core.terminator.take(socket, head, { att, host: a.host, port, address: a.address, rule: a.rule, credentials: a.credentials, protocol: 'connect' })
  }
  const dest = a.verdict === 'stubbed' ? stubTarget(a.stub) : { address: a.address, port }
  let upstream: Socket
  try {
    upstream = await connectTo(dest.address, dest.port, core.connectTimeoutMs)
  } catch (err) {
    return refuse(502, 'error', `upstream ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (socket.destroyed) return void upstream.destroy()
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
  relayTunnel(core, base, a, socket, upstream, head)
}

type TunnelAdmission = Extract<Admission, { verdict: 'allowed' | 'stubbed' }>

/**
 * Relays an admitted tunnel (CONNECT or SOCKS) and records its one event when it ends: denied when the
 * TLS server name did not match the host, error when the upstream failed before answering a byte.
 */
export function relayTunnel(
  core: ProxyCore,
  base: Pick<EgressEvent, 'sandboxId' | 'project' | 'protocol' | 'host' | 'port'>,
  a: TunnelAdmission,
  client: Socket,
  upstream: Socket,
  head: Buffer,
): void {
  runTunnel({
    client,
    upstream,
    head,
    host: a.host,
    onEnd: (end) => {
      const verdict = end.refused ? 'denied' : end.error && end.bytesDown === 0 ? 'error' : a.verdict
      core.emit({
        ...base,
        verdict,
        rule: end.refused ?? (verdict === 'error' ? `upstream ${end.error}` : a.rule),
        bytesUp: end.bytesUp,
        bytesDown: end.bytesDown,
        stub: a.verdict === 'stubbed' ? a.stub.name : undefined,
      })
    },
  })
}
