/** @module runtime/local/network/address-pool — sandbox addresses in a private IPv4 range and the host-end names that encode them (pure). */
import { RuntimeError } from '../runtime-error.js'

/** A parsed IPv4 range: network address and prefix length. */
export interface Ipv4Range {
  /** The network address as an unsigned 32-bit number. */
  base: number
  prefix: number
}

/** At most this many addresses are scanned per allocation (a /16 holds 65,534). */
const MAX_SCAN = 1 << 20

/** Dotted quad → unsigned 32-bit number; undefined when `s` is not one. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const v = Number(p)
    if (v > 255) return undefined
    n = n * 256 + v
  }
  return n
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/**
 * "a.b.c.d/p": a private range (RFC 1918 or 100.64.0.0/10) of /8 to /28, given by its network address.
 * Private only: a sandbox address must never shadow a real destination of the host.
 */
export function parseRange(cidr: string): Ipv4Range {
  const [addr = '', len = '', extra] = cidr.split('/')
  const base = parseIpv4(addr)
  const prefix = /^[0-9]{1,2}$/.test(len) ? Number(len) : NaN
  if (base === undefined || extra !== undefined || !(prefix >= 8 && prefix <= 28)) {
    throw new RuntimeError('invalid_request', `runtime.network.range must be an IPv4 range a.b.c.d/p with p from 8 to 28 (got ${JSON.stringify(cidr)})`)
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  if ((base & mask) >>> 0 !== base) throw new RuntimeError('invalid_request', `runtime.network.range ${cidr} has host bits set; use ${formatIpv4((base & mask) >>> 0)}/${prefix}`)
  const inside = (net: string, p: number) => {
    const m = (0xffffffff << (32 - p)) >>> 0
    return (base & m) >>> 0 === parseIpv4(net) && prefix >= p
  }
  if (!(inside('10.0.0.0', 8) || inside('172.16.0.0', 12) || inside('192.168.0.0', 16) || inside('100.64.0.0', 10))) {
    throw new RuntimeError('invalid_request', `runtime.network.range must lie in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10 (got ${cidr})`)
  }
  return { base, prefix }
}

export function rangeText(r: Ipv4Range): string {
  return `${formatIpv4(r.base)}/${r.prefix}`
}

/** The gateway: the range's first address (what every sandbox's default route points at). */
export function gatewayOf(r: Ipv4Range): number {
  return r.base + 1
}

/** Sandbox addresses: from the second address to the one before the broadcast address. */
function bounds(r: Ipv4Range): { first: number; last: number } {
  const size = 2 ** (32 - r.prefix)
  return { first: r.base + 2, last: r.base + size - 2 }
}

/** The host end of a sandbox's pair: "tp" + its address in 8 hex digits (15 characters at most, IFNAMSIZ). */
export function hostIfName(ip: number): string {
  return `tp${ip.toString(16).padStart(8, '0')}`
}

/** The address a host-end name encodes, when it is one of ours in `r`. */
export function ipOfHostIf(name: string, r: Ipv4Range): number | undefined {
  if (!/^tp[0-9a-f]{8}$/.test(name)) return undefined
  const ip = parseInt(name.slice(2), 16)
  const { first, last } = bounds(r)
  return ip >= first && ip <= last ? ip : undefined
}

/**
 * Picks the next free sandbox address after `cursor` (round robin, so an address just released, whose
 * pair the kernel may still be tearing down, is the last to come back). `taken` holds what live
 * sandboxes and lingering pairs use. `runtime_unavailable` when the range is full.
 */
export function nextAddress(r: Ipv4Range, taken: ReadonlySet<number>, cursor: number): number {
  const { first, last } = bounds(r)
  const count = last - first + 1
  const start = cursor >= first && cursor <= last ? cursor - first + 1 : 0
  for (let i = 0; i < Math.min(count, MAX_SCAN); i++) {
    const ip = first + ((start + i) % count)
    if (!taken.has(ip)) return ip
  }
  throw new RuntimeError('runtime_unavailable', `every address of runtime.network.range ${rangeText(r)} is in use (${count}); destroy sandboxes or configure a larger range`)
}
