/**
 * @module network/tls-terminate — TLS termination for the hosts whose credential rule opts in
 * (`terminateTls`): the proxy answers the sandbox's TLS with a leaf certificate from tidepool's CA
 * (which the sandbox trusts), reads each HTTPS request, adds the brokered headers, and sends it on
 * over a new TLS connection to the checked address, verifying the real server's certificate for the
 * name. The sandbox never holds the secret; nothing else is intercepted.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import type { TidepoolCa } from './ca.js'
import type { Attachment, CredentialRule, EgressProtocol } from './egress-types.js'
import type { ProxyCore } from './proxy-core.js'

interface Terminated {
  att: Attachment
  host: string
  port: number
  address: string
  rule: string
  credentials: CredentialRule
  protocol: EgressProtocol
}

const hopByHop = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'upgrade'])

export class TlsTerminator {
  readonly #contexts = new WeakMap<Socket, Terminated>()
  readonly #agent: HttpsAgent
  readonly #server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => void this.#handle(req, res))

  constructor(
    private readonly core: ProxyCore,
    private readonly ca: TidepoolCa,
    /** Extra roots for upstream servers (tests' self-signed ones); the system roots otherwise. */
    upstreamCa: readonly string[] | undefined,
  ) {
    this.#agent = new HttpsAgent({ keepAlive: true, maxSockets: 64, ...(upstreamCa?.length ? { ca: [...upstreamCa] } : {}) })
  }

  /** Take over a CONNECT tunnel's client socket (after the 200 was sent). */
  async take(client: Socket, head: Buffer, t: Terminated): Promise<void> {
    const leaf = await this.ca.leafFor(t.host)
    if (head.length > 0) client.unshift(head)
    const tls = new TLSSocket(client, { isServer: true, key: leaf.key, cert: leaf.cert, ALPNProtocols: ['http/1.1'] })
    tls.on('error', () => tls.destroy())
    tls.once('secure', () => {
      const sni = (tls as TLSSocket & { servername?: string | false }).servername
      if (typeof sni === 'string' && sni.toLowerCase() !== t.host) {
        tls.destroy()
        this.core.emit({
          sandboxId: t.att.sandboxId,
          project: t.att.project,
          protocol: t.protocol,
          host: t.host,
          port: t.port,
          verdict: 'denied',
          rule: `TLS server name ${sni.slice(0, 253)} does not match the CONNECT host ${t.host}`,
          bytesUp: 0,
          bytesDown: 0,
        })
        return
      }
      this.#contexts.set(tls, t)
      this.#server.emit('connection', tls)
    })
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t = this.#contexts.get(req.socket)
    if (!t) return void res.destroy()
    const base = { sandboxId: t.att.sandboxId, project: t.att.project, protocol: t.protocol, host: t.host, port: t.port }
    const headers = Object.create(null) as OutgoingHttpHeaders
    for (const [k, v] of Object.entries(req.headers)) if (!hopByHop.has(k) && v !== undefined) headers[k] = v
    for (const [name, h] of Object.entries(t.credentials.headers)) {
      const secret = await this.core.secretValue(t.att.project, h.secret)
      if (secret === undefined) {
        req.resume()
        const rule = `credential secret ${h.secret} is not set in project ${t.att.project}`
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'x-tidepool-egress': 'error' }).end(`tidepool egress proxy: ${rule}\n`)
        this.core.emit({ ...base, verdict: 'error', rule, bytesUp: 0, bytesDown: 0 })
        return
      }
      headers[name.toLowerCase()] = (h.format ?? '{secret}').split('{secret}').join(secret)
    }
    let up = 0
    let down = 0
    let failure: string | undefined
    const upstream = httpsRequest({ host: t.address, port: t.port, servername: t.host, method: req.method, path: req.url, headers, agent: this.#agent, timeout: this.core.connectTimeoutMs })
    upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' })))
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= err.code ?? err.message
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'x-tidepool-egress': 'error' }).end(`tidepool egress proxy: upstream ${failure}\n`)
      else res.destroy()
    })
    upstream.on('response', (ur) => {
      const out = Object.create(null) as OutgoingHttpHeaders
      for (const [k, v] of Object.entries(ur.headers)) if (!hopByHop.has(k) && v !== undefined) out[k] = v
      res.writeHead(ur.statusCode ?? 502, out)
      ur.on('data', (d: Buffer) => (down += d.length))
      ur.pipe(res)
    })
    req.on('data', (d: Buffer) => (up += d.length))
    req.pipe(upstream)
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy()
      this.core.emit({ ...base, verdict: failure ? 'error' : 'allowed', rule: failure ? `upstream ${failure}` : `${t.rule}; TLS terminated to broker credentials`, bytesUp: up, bytesDown: down })
    })
  }

  close(): void {
    this.#agent.destroy()
    this.#server.close()
  }
}
