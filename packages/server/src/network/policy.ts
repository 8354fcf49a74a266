/**
 * @module network/policy — egress decisions by domain: sandbox-runtime's `allowedDomains` /
 * `deniedDomains` keys, combined over the project, template and sandbox levels. Pure, no I/O.
 *
 * Patterns (as in sandbox-runtime's settings): `example.com` matches that host only; `*.example.com`
 * matches every subdomain of example.com at any depth but not example.com itself; `*` matches every
 * host. Matching is a suffix comparison on lower-cased labels: no regular expression is built from input.
 */

/** One level's policy (a settings file's `network` section, a template's, a sandbox's). */
export interface DomainPolicy {
  allowedDomains: readonly string[]
  deniedDomains: readonly string[]
}

export type PolicyLevel = 'project' | 'template' | 'sandbox'

/**
 * The most restrictive combination of the levels: a host is allowed only when EVERY level that lists
 * allowed domains allows it (intersection), and denied when ANY level denies it (union; deny wins).
 * A level with an empty allow list has no opinion on allows; when no level lists any, nothing is
 * allowed (default deny).
 */
export interface EffectivePolicy {
  allow: readonly { level: PolicyLevel; patterns: readonly string[] }[]
  deny: readonly { level: PolicyLevel; patterns: readonly string[] }[]
}

export type PolicyDecision = { verdict: 'allowed'; rule: string } | { verdict: 'denied'; rule: string }

/** Lower case, without one trailing dot; undefined for something that is no host name. */
export function normalizeHost(host: string): string | undefined {
  let h = host.toLowerCase()
  if (h.endsWith('.')) h = h.slice(0, -1)
  if (h.length === 0 || h.length > 253) return undefined
  return h
}

/** Whether one pattern matches a normalized host. */
export function matchesPattern(pattern: string, host: string): boolean {
  const p = normalizeHost(pattern)
  if (p === undefined) return false
  if (p === '*') return true
  if (p.startsWith('*.')) {
    const suffix = p.slice(1) // ".example.com"
    return host.length > suffix.length && host.endsWith(suffix)
  }
  return p === host
}

function firstMatch(patterns: readonly string[], host: string): string | undefined {
  for (const p of patterns) if (matchesPattern(p, host)) return p
  return undefined
}

/** Combine the levels that are present (absent ones have no opinion). */
export function effectivePolicy(levels: Partial<Record<PolicyLevel, DomainPolicy | undefined>>): EffectivePolicy {
  const order: PolicyLevel[] = ['project', 'template', 'sandbox']
  const allow: { level: PolicyLevel; patterns: readonly string[] }[] = []
  const deny: { level: PolicyLevel; patterns: readonly string[] }[] = []
  for (const level of order) {
    const p = levels[level]
    if (!p) continue
    if (p.allowedDomains.length > 0) allow.push({ level, patterns: [...p.allowedDomains] })
    if (p.deniedDomains.length > 0) deny.push({ level, patterns: [...p.deniedDomains] })
  }
  return { allow, deny }
}

/** The deny rule that matches a normalized host, if any (deny wins over allows and stubs). */
export function deniedBy(policy: EffectivePolicy, host: string): string | undefined {
  for (const d of policy.deny) {
    const hit = firstMatch(d.patterns, host)
    if (hit !== undefined) return `deniedDomains ${hit} (${d.level})`
  }
  return undefined
}

/** Allowed or denied, with the rule that decided, e.g. `denied by sandbox rule *.evil.com`. */
export function decide(policy: EffectivePolicy, rawHost: string): PolicyDecision {
  const host = normalizeHost(rawHost)
  if (host === undefined) return { verdict: 'denied', rule: 'invalid host name' }
  const denied = deniedBy(policy, host)
  if (denied !== undefined) return { verdict: 'denied', rule: denied }
  if (policy.allow.length === 0) return { verdict: 'denied', rule: 'default deny (no allowedDomains)' }
  const hits: string[] = []
  for (const a of policy.allow) {
    const hit = firstMatch(a.patterns, host)
    if (hit === undefined) return { verdict: 'denied', rule: `not in allowedDomains (${a.level})` }
    hits.push(`${hit} (${a.level})`)
  }
  return { verdict: 'allowed', rule: `allowedDomains ${hits.join(', ')}` }
}
