/** @module runtime/local/network/nft-rules — the text of the one nftables table that polices every sandbox's link (pure). */

/** The table's family and name (`nft list table inet tidepool`). */
export const NFT_TABLE = 'tidepool'
/** The named set of TCP ports on the gateway a sandbox may open (the egress proxy's). */
export const EGRESS_SET = 'egress_ports'
/** Every sandbox's host end matches this (hostIfName: "tp" + 8 hex digits). */
export const HOST_IF_GLOB = 'tp*'

export interface RulesInput {
  /** Gateway address (dotted quad). */
  gateway: string
  /** The sandbox range, "a.b.c.d/p". */
  range: string
}

/**
 * `nft -f` input that installs the table in one transaction, idempotently: the objects are declared
 * (a no-op where they exist), the chains flushed and their rules written again, so a fresh host and a
 * host with an older version of the rules both end up with these, and the egress set keeps its
 * members (a restarted control plane does not cut its proxy off). Nothing else on the host is touched.
 *
 * From a sandbox (in via a `tp*` link) the input hook accepts only: TCP to the gateway on a port of
 * the egress set (new connections) and packets of connections already accepted (established, related:
 * replies to the host, ICMP errors about them). A source outside the range, or not routed back through
 * the link it came in on (strict reverse path: one sandbox posing as another), is dropped first; then
 * any other TCP gets a reset (a fast, clear failure for a client that ignores its proxy variables);
 * everything else (UDP incl. DNS, ICMP, IPv6) is dropped. Nothing is forwarded to or from a `tp*` link
 * (the host does not forward anyway; this holds if someone turns ip_forward on). The host itself may
 * still open connections into a sandbox (the output hook is not policed): port exposure needs that.
 */
export function renderTable(r: RulesInput): string {
  const t = `inet ${NFT_TABLE}`
  return `table ${t} {
  set ${EGRESS_SET} { type inet_service; }
  chain input { type filter hook input priority filter - 5; policy accept; }
  chain forward { type filter hook forward priority filter - 5; policy accept; }
  chain from_sandbox { }
}
flush chain ${t} input
flush chain ${t} forward
flush chain ${t} from_sandbox
table ${t} {
  chain input {
    iifname "${HOST_IF_GLOB}" jump from_sandbox
  }
  chain forward {
    iifname "${HOST_IF_GLOB}" drop
    oifname "${HOST_IF_GLOB}" drop
  }
  chain from_sandbox {
    meta nfproto ipv6 drop
    ip saddr != ${r.range} drop
    fib saddr . iif oif missing drop
    ct state established,related accept
    ct state new ip daddr ${r.gateway} tcp dport @${EGRESS_SET} accept
    meta l4proto tcp reject with tcp reset
    drop
  }
}
`
}

/** `nft -f` input that replaces the egress set's members in one transaction. */
export function renderEgressPorts(ports: readonly number[]): string {
  const add = ports.length === 0 ? '' : `add element inet ${NFT_TABLE} ${EGRESS_SET} { ${ports.join(', ')} }\n`
  return `flush set inet ${NFT_TABLE} ${EGRESS_SET}\n${add}`
}

/** `nft -f` input that removes the table (the caller ignores "no such table"). */
export function renderDelete(): string {
  return `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`
}
