/** @module network/proxy-core — what the proxy's fronts (HTTP/CONNECT, SOCKS5) share: who is calling, the rules, and where events go. */
import { connect, type Socket } from 'node:net'
import type { Logger } from '../core/log.js'
import type { AdmissionRules } from './admission.js'
import type { Attachment, CredentialRule, EgressEvent, StubCall, StubRule } from './egress-types.js'
import { STUB_BODY_MAX } from './egress-types.js'

export interface ProxyCore {
  rules: AdmissionRules
  /** The sandbox a connection comes from, by its source address; undefined: refuse. */
  attachmentFor(remoteAddress: string | undefined): Attachment | undefined
  emit(e: Omit<EgressEvent, 'at'>): void
  /** A named secret of a project, for credential brokering (never logged). */
  secretValue(project: string, name: string): Promise<string | undefined>
  connectTimeoutMs: number
  log: Logger
  /** Set when a credential rule terminates TLS (the CA exists then). */
  terminator?: TlsTerminatorLike | undefined
}

/** What the fronts need of network/tls-terminate (kept as an interface so the two modules do not import each other). */
export interface TlsTerminatorLike {
  take(client: Socket, head: Buffer, t: { att: Attachment; host: string; port: number; address: string; rule: string; credentials: CredentialRule; protocol: 'connect' | 'socks' }): Promise<void>
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: a dual-stack listener reports IPv4 peers in mapped form. */
export function sourceAddress(remote: string | undefined): string | undefined {
  if (remote === undefined) return undefined
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}

/** A TCP connection to exactly `address` (never a name: no second resolution), with a connect timeout. */
export function connectTo(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: address, port, noDelay: true })
    const timer = setTimeout(() => {
      s.destroy()
      reject(Object.assign(new Error(`connect to ${address}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }))
    }, timeoutMs)
    s.once('connect', () => (clearTimeout(timer), resolve(s)))
    s.once('error', (err) => (clearTimeout(timer), reject(err)))
  })
}

/** Request headers a stub records never include credentials. */
const secretHeaders = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token'])

export function stubCall(method: string, path: string, headers: Record<string, string | string[] | undefined>, body: Buffer, truncated: boolean): StubCall {
  const kept = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !secretHeaders.has(k)) kept[k] = Array.isArray(v) ? v.join(', ') : v
  return { method, path, headers: kept, body: body.subarray(0, STUB_BODY_MAX).toString('utf8'), truncated }
}

/** Collects at most STUB_BODY_MAX bytes of a body as it passes. */
export class BoundedBody {
  #parts: Buffer[] = []
  #size = 0
  truncated = false
  add(d: Buffer): void {
    if (this.#size >= STUB_BODY_MAX) {
      this.truncated = true
      return
    }
    const room = STUB_BODY_MAX - this.#size
    if (d.length > room) this.truncated = true
    const part = d.length > room ? d.subarray(0, room) : d
    this.#parts.push(part)
    this.#size += part.length
  }
  bytes(): Buffer {
    return Buffer.concat(this.#parts)
  }
}

/** Where a URL stub forwards to (its url was validated as http://host:port when configured). */
export function stubTarget(stub: StubRule): { address: string; port: number } {
  const u = new URL(stub.url!)
  return { address: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname, port: u.port ? Number(u.port) : 80 }
}
