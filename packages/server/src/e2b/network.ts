/**
 * @module e2b/network — the egress options of an E2B create (`allowInternetAccess`, `network: { allowOut,
 * denyOut }`) as tidepool's egress policy (allowed/denied domains; deny wins). E2B lets allowOut win over
 * denyOut and writes "everything" as ALL_TRAFFIC (0.0.0.0/0); tidepool's policy is by domain (plain IPs
 * pass as hosts), so any other CIDR is refused, saying so. Nothing given: tidepool's default policy. Pure.
 */
import { AppError } from '../core/errors.js'

const ALL_TRAFFIC = '0.0.0.0/0'
const MAX_ENTRIES = 256
const MAX_ENTRY = 253

export interface EgressPolicy {
  allowedDomains: string[]
  deniedDomains: string[]
}

export function networkOf(allowInternetAccess: unknown, network: unknown): EgressPolicy | undefined {
  if (allowInternetAccess !== undefined && allowInternetAccess !== null && typeof allowInternetAccess !== 'boolean')
    throw new AppError('invalid_request', `allow_internet_access must be a boolean (got ${JSON.stringify(allowInternetAccess).slice(0, 64)})`)
  if (network !== undefined && network !== null && (typeof network !== 'object' || Array.isArray(network))) throw new AppError('invalid_request', 'network must be an object { allowOut, denyOut }')
  const n = (network ?? {}) as { allowOut?: unknown; denyOut?: unknown }
  const allowOut = entries(n.allowOut, 'network.allowOut')
  const denyOut = entries(n.denyOut, 'network.denyOut')
  if (allowInternetAccess == null && allowOut === undefined && denyOut === undefined) return undefined
  const allow = allowOut ?? []
  const deny = denyOut ?? []
  // Closed unless told open: internet access off, or everything denied (the E2B allowlist idiom).
  const closed = allowInternetAccess === false || deny.includes(ALL_TRAFFIC)
  const allowed = allow.filter((e) => e !== ALL_TRAFFIC)
  return {
    allowedDomains: closed ? (allow.includes(ALL_TRAFFIC) ? ['*'] : allowed) : ['*'],
    // In E2B an allowOut entry wins over the same denyOut entry; in tidepool a denied one wins, so it is dropped.
    deniedDomains: deny.filter((e) => e !== ALL_TRAFFIC && !allow.includes(e)),
  }
}

function entries(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.length > MAX_ENTRIES) throw new AppError('invalid_request', `${field} must be an array of at most ${MAX_ENTRIES} domains`)
  return v.map((e, i) => {
    if (typeof e !== 'string' || e.length < 1 || e.length > MAX_ENTRY) throw new AppError('invalid_request', `${field}[${i}] must be a domain of 1 to ${MAX_ENTRY} characters`)
    if (e !== ALL_TRAFFIC && e.includes('/'))
      throw new AppError(
        'invalid_request',
        `${field}[${i}] is an IP range (${e}); tidepool's egress policy is by domain: list domains (wildcards like *.example.com), single IPs, or ${ALL_TRAFFIC} for everything`,
      )
    return e.toLowerCase()
  })
}
