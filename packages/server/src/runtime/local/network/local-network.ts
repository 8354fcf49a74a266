/**
 * @module runtime/local/network/local-network — LocalNetwork: the host side of sandboxes' links (gateway
 * address, the nftables table, address allocation, stray links) for the local runtime.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { childEnv, emptyEnv, hostPath } from '../../../core/child-env.js'
import type { PreflightCheck, RuntimeNetwork, SandboxAddresses } from '../../runtime.js'
import { pollUntil } from '../backoff.js'
import { readText } from '../host-files.js'
import { RuntimeError, messageOf } from '../runtime-error.js'
import { type Ipv4Range, formatIpv4, gatewayOf, hostIfName, ipOfHostIf, nextAddress, parseIpv4, parseRange, rangeText } from './address-pool.js'
import { renderDelete, renderEgressPorts, renderTable } from './nft-rules.js'

/** runtime.network: the local runtime's per-sandbox network. */
export interface NetworkConfig {
  /** false: no `network` on this runtime (sandboxes asking for egress are refused). Default true. */
  enabled?: boolean
  /** Private IPv4 range of sandbox addresses; its first address is the gateway (default 10.200.0.0/16). */
  range?: string
}

export interface NetworkOptions {
  /** The private IPv4 range sandboxes' addresses come from; its first address is the gateway (default 10.200.0.0/16). */
  range?: string
  /** Path of the compiled helper (net-gateway, net-delete). */
  helperPath: string
  /** Where sandboxes' dirs are (each with its `net` file): <dataDir>/sandboxes. */
  sandboxesDir: string
  /** Ids of the runtime's sandboxes on the host: the first ensure() deletes host ends none of them owns. */
  liveIds?: () => Promise<string[]>
}

/** The file in a sandbox's dir that records its address (survives a restart of the control plane). */
const NET_FILE = 'net'
const MAX_EGRESS_PORTS = 64
const TOOL_TIMEOUT_MS = 30_000

/** What one sandbox's link is: the --net argument of `helper create`. */
export interface SandboxLink {
  hostIf: string
  sandboxIp: string
  gatewayIp: string
}

export class LocalNetwork implements RuntimeNetwork {
  readonly gatewayIp: string
  readonly range: Ipv4Range
  readonly #helperPath: string
  readonly #sandboxesDir: string
  readonly #liveIds: (() => Promise<string[]>) | undefined
  #pruned = false
  #ports: number[] = []
  #installed: Promise<void> | undefined
  /** Addresses of sandboxes this process knows (started here, or read back from their `net` file). */
  readonly #byId = new Map<string, number>()
  /** Sandboxes whose dir holds no `net` file (no network): read once, not on every destroy. */
  readonly #without = new Set<string>()
  #cursor = 0

  constructor(o: NetworkOptions) {
    this.range = parseRange(o.range ?? '10.200.0.0/16')
    this.gatewayIp = formatIpv4(gatewayOf(this.range))
    this.#helperPath = o.helperPath
    this.#sandboxesDir = o.sandboxesDir
    this.#liveIds = o.liveIds
  }

  ensure(): Promise<void> {
    // One install per process; a failed one is tried again next time.
    this.#installed ??= this.#install().catch((err: unknown) => {
      this.#installed = undefined
      throw err
    })
    return this.#installed
  }

  async setEgressPorts(ports: number[]): Promise<void> {
    if (ports.length > MAX_EGRESS_PORTS || !ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65_535)) {
      throw new RuntimeError('invalid_request', `egress ports must be at most ${MAX_EGRESS_PORTS} integers from 1 to 65535 (got ${JSON.stringify(ports).slice(0, 200)})`)
    }
    const unique = [...new Set(ports)].sort((a, b) => a - b)
    await this.ensure()
    await nft(renderEgressPorts(unique), 'set the egress ports')
    this.#ports = unique
  }

  /** The ports in the egress set now. */
  get egressPorts(): readonly number[] {
    return this.#ports
  }

  /** Reserves an address for sandbox `id` (synchronous: concurrent starts never get the same one). */
  allocate(id: string): SandboxLink {
    if (this.#addressOf(id) !== undefined) throw new RuntimeError('invalid_request', `sandbox ${id} already has an address on this host; destroy it first or use a new id`)
    // Every live sandbox's pair is on the host (so a restarted process sees them too), and so are the
    // lingering pairs of sandboxes just destroyed; reservations of starts under way are in #byId.
    const taken = new Set(this.#byId.values())
    for (const ip of this.#hostLinks().values()) taken.add(ip)
    const ip = nextAddress(this.range, taken, this.#cursor)
    this.#cursor = ip
    this.#byId.set(id, ip)
    this.#without.delete(id)
    return { hostIf: hostIfName(ip), sandboxIp: formatIpv4(ip), gatewayIp: this.gatewayIp }
  }

  /** Records a started sandbox's address in its dir, for a restarted control plane. */
  record(id: string, dir: string): void {
    const ip = this.#byId.get(id)
    if (ip !== undefined) writeFileSync(join(dir, NET_FILE), `${formatIpv4(ip)}\n`)
  }

  addressesOf(id: string): SandboxAddresses | undefined {
    const ip = this.#addressOf(id)
    return ip === undefined ? undefined : { sandboxIp: formatIpv4(ip), gatewayIp: this.gatewayIp }
  }

  /**
   * After its init is dead: waits (bounded) until the kernel has torn down the sandbox's pair (its netns
   * goes asynchronously), deletes it if it lingers, and frees the address.
   */
  async release(id: string): Promise<void> {
    const ip = this.#addressOf(id)
    this.#without.delete(id) // a later sandbox of the same id may have network
    if (ip === undefined) return
    const name = hostIfName(ip)
    if (!(await pollUntil(() => !linkExists(name), { timeoutMs: 3000, maxDelayMs: 50 }))) await this.#deleteLink(name)
    this.#byId.delete(id)
  }

  /** Host ends of this range that no known sandbox owns (e.g. left by a crash mid-create) are deleted. */
  async pruneStrays(liveIds: readonly string[]): Promise<string[]> {
    const owned = new Set<number>(this.#byId.values()) // incl. starts under way
    for (const id of liveIds) {
      const ip = this.#addressOf(id)
      if (ip !== undefined) owned.add(ip)
    }
    const pruned: string[] = []
    for (const [name, ip] of this.#hostLinks()) {
      if (owned.has(ip)) continue
      await this.#deleteLink(name)
      pruned.push(name)
    }
    return pruned
  }

  /**
   * A clean stop: when this process installed the rules and no sandbox link of any runtime is left on
   * the host (runtimes on one host share the table), removes the table and the gateway address.
   */
  async releaseIfIdle(): Promise<boolean> {
    if (!this.#installed) return false
    let names: string[] = []
    try {
      names = readdirSync('/sys/class/net')
    } catch {
      // no sysfs
    }
    if (names.some((n) => /^tp[0-9a-f]{8}$/.test(n))) return false
    await this.teardown()
    return true
  }

  /** Removes the table and the gateway address, whatever uses them (tests, uninstall). */
  async teardown(): Promise<void> {
    this.#installed = undefined
    await nft(renderDelete(), 'remove the nftables table')
    await runHelper(this.#helperPath, ['net-gateway', '--address', this.gatewayIp, '--remove'], 'remove the gateway address')
  }

  /** For `tidepool doctor`: can this host police sandbox links (nft present, the kernel takes the rules)? */
  async preflight(): Promise<PreflightCheck> {
    const name = 'sandbox network'
    const bin = findNft()
    if (!bin) return { name, ok: false, detail: 'nft (nftables) is not installed: sandboxes with network.egress cannot start', fix: 'apt-get install nftables (or scripts/install-host-deps.sh)' }
    try {
      // -c: the kernel checks the whole transaction (nf_tables, fib, reject, conntrack) and commits nothing.
      await nft(renderTable({ gateway: this.gatewayIp, range: rangeText(this.range) }), 'check the rules', ['-c'])
    } catch (err) {
      return {
        name,
        ok: false,
        detail: `the kernel refuses the rules: ${messageOf(err)}`,
        fix: 'use a kernel with nf_tables, nft_fib_inet, nft_reject_inet and nf_conntrack (modprobe them), and run as root',
      }
    }
    const forward = readText('/proc/sys/net/ipv4/ip_forward')?.trim()
    return {
      name,
      ok: true,
      detail: `nftables takes the rules (nf_tables, fib, reject, conntrack); range ${rangeText(this.range)}, gateway ${this.gatewayIp} on lo${forward === '1' ? '; note: ip_forward is on (the forward chain still drops sandbox traffic)' : ''}`,
    }
  }

  async #install(): Promise<void> {
    if (!findNft()) throw new RuntimeError('runtime_unavailable', 'sandbox network needs nft (nftables), which is not installed; apt-get install nftables, or set runtime.network.enabled to false')
    await nft(renderTable({ gateway: this.gatewayIp, range: rangeText(this.range) }), 'install the nftables table')
    await runHelper(this.#helperPath, ['net-gateway', '--address', this.gatewayIp], 'add the gateway address')
    // Reconcile once per process: a crash mid-create can leave a pair no sandbox record owns.
    if (this.#liveIds && !this.#pruned) {
      this.#pruned = true
      this.lastPruned = await this.pruneStrays(await this.#liveIds())
    }
  }

  /** Host ends the first ensure() of this process deleted (for the runtime's log). */
  lastPruned: string[] = []

  /** The address of sandbox `id`: known here, or read back (once) from its `net` file. */
  #addressOf(id: string): number | undefined {
    const known = this.#byId.get(id)
    if (known !== undefined || this.#without.has(id)) return known
    const ip = parseIpv4((readText(join(this.#sandboxesDir, id, NET_FILE)) ?? '').trim())
    if (ip === undefined || ipOfHostIf(hostIfName(ip), this.range) === undefined) {
      this.#without.add(id)
      return undefined
    }
    this.#byId.set(id, ip)
    return ip
  }

  /** Host ends of this range on the host now: name → address. */
  #hostLinks(): Map<string, number> {
    const links = new Map<string, number>()
    let names: string[] = []
    try {
      names = readdirSync('/sys/class/net')
    } catch {
      // no sysfs: nothing to see
    }
    for (const name of names) {
      const ip = ipOfHostIf(name, this.range)
      if (ip !== undefined) links.set(name, ip)
    }
    return links
  }

  #deleteLink(name: string): Promise<void> {
    return runHelper(this.#helperPath, ['net-delete', '--link', name], `delete link ${name}`).then(() => undefined)
  }
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`)
}

/** The nft binary on the server's PATH or in the sbin directories, or undefined. */
export function findNft(): string | undefined {
  for (const dir of hostPath({ sbin: true }).split(':')) {
    if (dir && existsSync(join(dir, 'nft'))) return join(dir, 'nft')
  }
  return undefined
}

/** `nft [extra] -f -` with `text` on stdin. */
function nft(text: string, what: string, extra: string[] = []): Promise<void> {
  const bin = findNft()
  if (!bin) return Promise.reject(new RuntimeError('runtime_unavailable', `could not ${what}: nft (nftables) is not installed; apt-get install nftables`))
  return new Promise((resolve, reject) => {
    const child = execFile(bin, [...extra, '-f', '-'], { env: childEnv(), timeout: TOOL_TIMEOUT_MS, maxBuffer: 1 << 16 }, (err, _stdout, stderr) => {
      if (!err) return resolve()
      reject(new RuntimeError('runtime_unavailable', `could not ${what}: nft: ${String(stderr).trim().slice(0, 500) || messageOf(err)}`))
    })
    child.stdin?.end(text)
  })
}

function runHelper(helperPath: string, argv: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(helperPath, argv, { env: emptyEnv(), timeout: TOOL_TIMEOUT_MS, maxBuffer: 1 << 16 }, (err, stdout, stderr) => {
      if (!err) return resolve(String(stdout))
      reject(new RuntimeError('internal', `could not ${what}: ${String(stderr).trim() || messageOf(err)}`))
    })
  })
}
