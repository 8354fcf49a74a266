/**
 * @module network/egress-proxy — tidepool's egress proxy: HTTP (absolute-form and CONNECT) on one
 * port, SOCKS5 on another, both on one host address (tests: 127.0.0.1; in production the runtime's
 * gateway address, the only place a sandbox's packets may go). The calling sandbox is the one attached
 * at the connection's source address; connections from any other address are refused.
 *
 * The lead calls `attach` when a sandbox is created (with its veth address) and `detach` when it ends;
 * `setPolicy` changes a running sandbox's policy for its NEW connections (open ones keep theirs).
 */
import type { Server } from 'node:http'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import type { Logger } from '../core/log.js'
import type { AdmissionRules } from './admission.js'
import type { Attachment, CredentialRule, EgressEvent, EgressVerdict, StubRule } from './egress-types.js'
import { createHttpFront } from './http-front.js'
import type { EffectivePolicy } from './policy.js'
import { sourceAddress, type ProxyCore } from './proxy-core.js'
import { DestinationResolver, type ResolverOptions } from './resolver.js'
import { createSocksFront } from './socks-front.js'
import type { TidepoolCa } from './ca.js'
import { TlsTerminator } from './tls-terminate.js'

export interface EgressProxyOptions {
  /** Address both fronts listen on. */
  host: string
  /** 0 (default): any free port. */
  httpPort?: number
  socksPort?: number
  resolver?: ResolverOptions
  stubs?: readonly StubRule[]
  credentials?: readonly CredentialRule[]
  /** Every attempt, once it ends (allowed, denied, stubbed, error). Called synchronously: keep it cheap. */
  onEvent?: (e: EgressEvent) => void
  secretValue?: (project: string, name: string) => Promise<string | undefined>
  connectTimeoutMs?: number
  /** Open client connections per front, all sandboxes together (default 10000); more are refused by the kernel's accept path. */
  maxConnections?: number
  /** tidepool's CA: needed when a credential rule sets terminateTls. */
  ca?: TidepoolCa | undefined
  /** Extra trusted roots for upstream HTTPS when terminating (PEM); the system roots otherwise. */
  upstreamCa?: readonly string[] | undefined
  now?: () => number
  log: Logger
}

export interface EgressCounters {
  allowed: number
  denied: number
  stubbed: number
  error: number
  refusedConnections: number
  bytesUp: number
  bytesDown: number
}

export class EgressProxy {
  readonly #bySource = new Map<string, Attachment>()
  readonly #sourceOf = new Map<string, string>()
  readonly #http: Server
  readonly #socks: NetServer
  readonly #counters: EgressCounters = { allowed: 0, denied: 0, stubbed: 0, error: 0, refusedConnections: 0, bytesUp: 0, bytesDown: 0 }
  readonly #opts: EgressProxyOptions
  readonly #sockets = new Set<Socket>()
  #terminator: TlsTerminator | undefined

  private constructor(opts: EgressProxyOptions) {
    this.#opts = opts
    const rules: AdmissionRules = { resolver: new DestinationResolver(opts.resolver), stubs: opts.stubs ?? [], credentials: opts.credentials ?? [] }
    const now = opts.now ?? Date.now
    const core: ProxyCore = {
      rules,
      attachmentFor: (remote) => {
        const found = this.#bySource.get(sourceAddress(remote) ?? '')
        if (!found) this.#counters.refusedConnections++
        return found
      },
      emit: (e) => {
        const c = this.#counters
        c[e.verdict satisfies EgressVerdict]++
        c.bytesUp += e.bytesUp
        c.bytesDown += e.bytesDown
        try {
          opts.onEvent?.({ at: new Date(now()).toISOString(), ...e })
        } catch (err) {
          opts.log.error({ err }, 'egress proxy: event sink failed')
        }
      },
      secretValue: opts.secretValue ?? (async () => undefined),
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      log: opts.log,
    }
    if (opts.ca) {
      this.#terminator = new TlsTerminator(core, opts.ca, opts.upstreamCa)
      core.terminator = this.#terminator
    }
    this.#http = createHttpFront(core)
    this.#socks = createSocksFront(core)
    this.#http.maxConnections = opts.maxConnections ?? 10_000
    this.#socks.maxConnections = opts.maxConnections ?? 10_000
    // Tracked so close() ends tunnels too (a tunnel's upstream ends with its client).
    for (const server of [this.#http, this.#socks])
      server.on('connection', (s: Socket) => {
        this.#sockets.add(s)
        s.once('close', () => this.#sockets.delete(s))
      })
  }

  /** Both fronts listening. */
  static async start(opts: EgressProxyOptions): Promise<EgressProxy> {
    const p = new EgressProxy(opts)
    await listen(p.#http, opts.host, opts.httpPort ?? 0)
    try {
      await listen(p.#socks, opts.host, opts.socksPort ?? 0)
    } catch (err) {
      p.#http.close()
      throw err
    }
    return p
  }

  get httpPort(): number {
    return (this.#http.address() as AddressInfo).port
  }
  get socksPort(): number {
    return (this.#socks.address() as AddressInfo).port
  }
  get host(): string {
    return this.#opts.host
  }

  /** Serve the sandbox whose connections come from `sourceIp`. A second sandbox at the same address replaces the first. */
  attach(sandbox: { id: string; projectId: string; template?: string | undefined }, sourceIp: string, policy: EffectivePolicy): void {
    this.detach(sandbox.id)
    const old = this.#bySource.get(sourceIp)
    if (old) this.#sourceOf.delete(old.sandboxId)
    this.#bySource.set(sourceIp, { sandboxId: sandbox.id, project: sandbox.projectId, template: sandbox.template, policy })
    this.#sourceOf.set(sandbox.id, sourceIp)
  }

  /** New connections of the sandbox use this policy; false when it is not attached. */
  setPolicy(sandboxId: string, policy: EffectivePolicy): boolean {
    const ip = this.#sourceOf.get(sandboxId)
    const att = ip === undefined ? undefined : this.#bySource.get(ip)
    if (!att) return false
    this.#bySource.set(ip!, { ...att, policy })
    return true
  }

  /** Idempotent. Open connections run to their end; new ones from the address are refused. */
  detach(sandboxId: string): void {
    const ip = this.#sourceOf.get(sandboxId)
    if (ip === undefined) return
    this.#sourceOf.delete(sandboxId)
    if (this.#bySource.get(ip)?.sandboxId === sandboxId) this.#bySource.delete(ip)
  }

  /** The attachment of a sandbox (its address and policy), for the API. */
  attachment(sandboxId: string): (Attachment & { sourceIp: string }) | undefined {
    const ip = this.#sourceOf.get(sandboxId)
    const att = ip === undefined ? undefined : this.#bySource.get(ip)
    return att ? { ...att, sourceIp: ip! } : undefined
  }

  attachedCount(): number {
    return this.#bySource.size
  }

  /** tidepool's CA certificate (PEM) for sandboxes' trust stores, when TLS termination is set up. */
  caCertificatePem(): string | undefined {
    return this.#opts.ca?.certPem
  }

  counters(): EgressCounters {
    return { ...this.#counters }
  }

  /** The variables a sandbox's processes get so their HTTP clients use this proxy. */
  proxyEnv(): Record<string, string> {
    const h = this.#opts.host.includes(':') ? `[${this.#opts.host}]` : this.#opts.host
    return proxyEnvFor(`http://${h}:${this.httpPort}`, `socks5h://${h}:${this.socksPort}`)
  }

  async close(): Promise<void> {
    this.#bySource.clear()
    this.#sourceOf.clear()
    this.#terminator?.close()
    const closing = Promise.all([closeServer(this.#http), closeServer(this.#socks)])
    for (const s of this.#sockets) s.destroy()
    await closing
  }
}

export function proxyEnvFor(httpUrl: string, socksUrl: string): Record<string, string> {
  const env = Object.create(null) as Record<string, string>
  const noProxy = 'localhost,127.0.0.1,::1'
  Object.assign(env, { HTTP_PROXY: httpUrl, HTTPS_PROXY: httpUrl, ALL_PROXY: socksUrl, NO_PROXY: noProxy })
  Object.assign(env, { http_proxy: httpUrl, https_proxy: httpUrl, all_proxy: socksUrl, no_proxy: noProxy })
  return env
}

function listen(s: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject)
    s.listen(port, host, () => (s.off('error', reject), resolve()))
  })
}

function closeServer(s: NetServer): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()))
}
