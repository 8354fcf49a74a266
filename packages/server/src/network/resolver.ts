/**
 * @module network/resolver — names resolve in the proxy, never in the sandbox (it has no resolver, so
 * no DNS exfiltration). Once per connection: the proxy connects to exactly the address checked here,
 * so an answer that changes between a check and a connect (DNS rebinding) never reaches a private
 * address. Names mapped by `network.hosts` skip DNS and the address check (tests, air-gapped sites).
 */
import { promises as dns } from 'node:dns'
import { isIP } from 'node:net'
import { forbiddenReason } from './address-guard.js'

export type Resolution = { ok: true; address: string; mapped: boolean } | { ok: false; reason: string }

export interface ResolverOptions {
  /** name → address, trusted as-is (config `network.hosts`). */
  hosts?: Readonly<Record<string, string>>
  /** DNS servers (`ip` or `ip:port`, `[ip6]:port`); empty or absent: the system resolver. */
  servers?: readonly string[]
  /** Per query (default 5000 ms). */
  timeoutMs?: number
}

/** Most answers we look at for one name. */
const MAX_ANSWERS = 32

export class DestinationResolver {
  readonly #hosts = new Map<string, string>()
  readonly #dns: dns.Resolver | undefined

  constructor(opts: ResolverOptions = {}) {
    for (const [name, address] of Object.entries(opts.hosts ?? {})) this.#hosts.set(name.toLowerCase(), address)
    if (opts.servers && opts.servers.length > 0) {
      this.#dns = new dns.Resolver({ timeout: opts.timeoutMs ?? 5000, tries: 1 })
      this.#dns.setServers([...opts.servers])
    }
  }

  /** The address to connect to for `host` (lower-cased, no trailing dot), or why there is none. */
  async resolve(host: string): Promise<Resolution> {
    const mapped = this.#hosts.get(host)
    if (mapped !== undefined) return { ok: true, address: mapped, mapped: true }
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
    if (isIP(literal) !== 0) return checked([literal])
    let answers: string[]
    try {
      answers = await this.#lookup(host)
    } catch (err) {
      return { ok: false, reason: `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }
    }
    if (answers.length === 0) return { ok: false, reason: `cannot resolve ${host}: no addresses` }
    return checked(answers.slice(0, MAX_ANSWERS))
  }

  async #lookup(host: string): Promise<string[]> {
    if (!this.#dns) return (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address)
    const r = this.#dns
    const [a, aaaa] = await Promise.allSettled([r.resolve4(host), r.resolve6(host)])
    if (a.status === 'rejected' && aaaa.status === 'rejected') throw a.reason
    return [...(a.status === 'fulfilled' ? a.value : []), ...(aaaa.status === 'fulfilled' ? aaaa.value : [])]
  }
}

/** Refused when ANY answer is not public: a name that mixes public and private answers is an attack, not a CDN. */
function checked(answers: string[]): Resolution {
  for (const a of answers) {
    const why = forbiddenReason(a)
    if (why !== undefined) return { ok: false, reason: `resolves to a ${why}; map the name in network.hosts to allow it` }
  }
  return { ok: true, address: answers[0]!, mapped: false }
}
