/**
 * @module network/address-guard — which resolved addresses the egress proxy refuses to connect to:
 * everything that is not the public internet (private, loopback, link-local, CGNAT, ULA, multicast,
 * unspecified, reserved, cloud metadata), so a name cannot point a sandbox at the host, the LAN or a
 * metadata service. A name the config maps (`network.hosts`) is trusted and never checked here.
 */
import { BlockList, isIP } from 'node:net'

const v4: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'CGNAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local or metadata'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved or broadcast'],
]
const v6: [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'ULA (private; includes fd00:ec2::254 metadata)'],
  ['fe80::', 10, 'link-local'],
  ['ff00::', 8, 'multicast'],
  ['64:ff9b:1::', 48, 'local-use NAT64'],
  ['100::', 64, 'discard'],
  ['2001:db8::', 32, 'documentation'],
]

const lists = [...v4.map((r) => ({ r, family: 'ipv4' as const })), ...v6.map((r) => ({ r, family: 'ipv6' as const }))].map(({ r: [net, prefix, why], family }) => {
  const b = new BlockList()
  b.addSubnet(net, prefix, family)
  return { b, family, why, net: `${net}/${prefix}` }
})

/** Why an address may not be connected to, or undefined when it is a public address. */
export function forbiddenReason(address: string): string | undefined {
  const family = isIP(address)
  if (family === 0) return 'not an IP address'
  let addr = address
  let fam: 'ipv4' | 'ipv6' = family === 4 ? 'ipv4' : 'ipv6'
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address for every purpose that matters here.
  const lower = address.toLowerCase()
  if (fam === 'ipv6' && lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) {
    addr = lower.slice(7)
    fam = 'ipv4'
  }
  for (const l of lists) if (l.family === fam && l.b.check(addr, fam)) return `${l.why} address ${address} (${l.net})`
  // IPv4 carried inside IPv6 by translation (NAT64 64:ff9b::/96) or tunnelling (6to4 2002::/16): the
  // IPv4 address is where the packets end up, so it is checked as well.
  if (fam === 'ipv6') {
    const b = ipv6Bytes(lower)
    if (b) {
      const nat64 = b.subarray(0, 12).equals(Buffer.from([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]))
      const sixToFour = b[0] === 0x20 && b[1] === 0x02
      const v4 = nat64 ? b.subarray(12, 16) : sixToFour ? b.subarray(2, 6) : undefined
      if (v4) {
        const inner = forbiddenReason(`${v4[0]}.${v4[1]}.${v4[2]}.${v4[3]}`)
        if (inner !== undefined) return `${nat64 ? 'NAT64' : '6to4'} address ${address} embedding a ${inner}`
      }
    }
  }
  return undefined
}

/** The 16 bytes of a valid IPv6 address text (isIP said so), `::` and a dotted IPv4 tail included. */
function ipv6Bytes(text: string): Buffer | undefined {
  let t = text
  const tail: number[] = []
  const lastColon = t.lastIndexOf(':')
  if (t.includes('.', lastColon)) {
    for (const part of t.slice(lastColon + 1).split('.')) tail.push(Number(part))
    t = `${t.slice(0, lastColon + 1)}0:0`
  }
  const [head, rest] = t.split('::') as [string, string | undefined]
  const groups = (x: string | undefined) => (x ? x.split(':').map((g) => parseInt(g, 16)) : [])
  const h = groups(head)
  const r = groups(rest)
  const all = rest === undefined ? h : [...h, ...Array<number>(8 - h.length - r.length).fill(0), ...r]
  if (all.length !== 8) return undefined
  const b = Buffer.alloc(16)
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2))
  if (tail.length === 4) tail.forEach((x, i) => (b[12 + i] = x))
  return b
}
