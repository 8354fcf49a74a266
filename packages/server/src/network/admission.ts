/**
 * @module network/admission — the one decision for every egress attempt, whatever the protocol:
 * deny rules first (deny wins), then stubs, then the allow rules, then the name is resolved here and
 * the address checked. The caller connects to exactly the address returned.
 */
import type { Attachment, CredentialRule, StubRule } from './egress-types.js'
import { decide, deniedBy, matchesPattern, normalizeHost } from './policy.js'
import type { DestinationResolver } from './resolver.js'

export type Admission =
  | { verdict: 'denied'; host: string; rule: string }
  | { verdict: 'error'; host: string; rule: string }
  | { verdict: 'stubbed'; host: string; rule: string; stub: StubRule }
  | { verdict: 'allowed'; host: string; rule: string; address: string; credentials?: CredentialRule | undefined }

export interface AdmissionRules {
  resolver: DestinationResolver
  stubs: readonly StubRule[]
  credentials: readonly CredentialRule[]
}

export async function admit(rules: AdmissionRules, att: Attachment, rawHost: string, port: number): Promise<Admission> {
  const host = normalizeHost(rawHost.startsWith('[') && rawHost.endsWith(']') ? rawHost.slice(1, -1) : rawHost)
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) return { verdict: 'denied', host: rawHost.slice(0, 253), rule: 'invalid destination' }
  const denied = deniedBy(att.policy, host)
  if (denied !== undefined) return { verdict: 'denied', host, rule: denied }
  const stub = rules.stubs.find((s) => s.domains.some((d) => matchesPattern(d, host)))
  if (stub) return { verdict: 'stubbed', host, rule: `stub ${stub.name}`, stub }
  const d = decide(att.policy, host)
  if (d.verdict === 'denied') return { verdict: 'denied', host, rule: d.rule }
  const r = await rules.resolver.resolve(host)
  if (!r.ok) return { verdict: 'denied', host, rule: r.reason }
  const credentials = rules.credentials.find((c) => c.domains.some((p) => matchesPattern(p, host)))
  return { verdict: 'allowed', host, rule: d.rule, address: r.address, credentials }
}
