/**
 * @module router/route-key — where a request's routing key comes from: the W3C `baggage` member
 * `tidepool-route`, the `x-tidepool-route` header, or a preview host `<key>--<service>.<env>.preview.localhost`;
 * and which service of which environment a host names. Bounded scans, no regular expressions.
 */

/** The W3C baggage member that carries the key (also what the propagation helpers set). */
export const BAGGAGE_MEMBER = 'tidepool-route'
export const ROUTE_HEADER = 'x-tidepool-route'
/** W3C Baggage limits: larger headers, or more members, carry no key. */
export const MAX_BAGGAGE_BYTES = 8192
export const MAX_BAGGAGE_MEMBERS = 64
const MAX_KEY = 63

export type KeyResult = { key: string } | { key?: undefined; problem?: string }

/** A routing key is 1–63 of [a-z0-9-], starting with a letter or digit (the contract's RoutingKey). */
export function isRoutingKey(s: string): boolean {
  if (s.length === 0 || s.length > MAX_KEY) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const alnum = (c >= 97 && c <= 122) || (c >= 48 && c <= 57)
    if (!alnum && !(c === 45 && i > 0)) return false
  }
  return true
}

/**
 * The `tidepool-route` member of a baggage header (several headers joined with `,`). Oversized, too many
 * members, or a malformed member anywhere: no key, and a `problem` to log. An absent member: no key.
 */
export function keyFromBaggage(value: string): KeyResult {
  if (value.length > MAX_BAGGAGE_BYTES) return { problem: `baggage is ${value.length} bytes (limit ${MAX_BAGGAGE_BYTES})` }
  let members = 0
  let found: string | undefined
  let start = 0
  while (start <= value.length) {
    let end = value.indexOf(',', start)
    if (end === -1) end = value.length
    const member = value.slice(start, end).trim()
    start = end + 1
    if (member === '') {
      if (end === value.length) break
      return { problem: 'baggage has an empty member' }
    }
    if (++members > MAX_BAGGAGE_MEMBERS) return { problem: `baggage has more than ${MAX_BAGGAGE_MEMBERS} members` }
    const semi = member.indexOf(';')
    const pair = semi === -1 ? member : member.slice(0, semi)
    const eq = pair.indexOf('=')
    if (eq <= 0) return { problem: 'baggage member without key=value' }
    const name = pair.slice(0, eq).trim()
    if (!isToken(name)) return { problem: 'baggage member key is not a token' }
    if (name !== BAGGAGE_MEMBER) continue
    let raw = pair.slice(eq + 1).trim()
    try {
      raw = decodeURIComponent(raw)
    } catch {
      return { problem: 'baggage tidepool-route value is not percent-encoded text' }
    }
    if (!isRoutingKey(raw)) return { problem: 'baggage tidepool-route value is not a routing key' }
    found ??= raw
  }
  return found === undefined ? {} : { key: found }
}

/** RFC 9110 token characters. */
function isToken(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "!#$%&'*+-.^_`|~".includes(s[i]!)
    if (!ok) return false
  }
  return true
}

/** What a Host header names: an environment's service, and the key of a preview host. */
export interface HostRoute {
  env: string
  service: string
  key?: string
}

/**
 * `<service>.<env>.localhost[:port]` or `<key>--<service>.<env>.preview.localhost[:port]` (a preview
 * host without `<key>--` routes like the plain one). Anything else: undefined.
 */
export function parseHost(host: string | undefined): HostRoute | undefined {
  if (!host || host.length > 255) return undefined
  let h = host.toLowerCase()
  const colon = h.lastIndexOf(':')
  if (colon !== -1 && !h.includes(']')) h = h.slice(0, colon)
  if (h.endsWith('.')) h = h.slice(0, -1)
  const labels = h.split('.')
  if (labels.at(-1) !== 'localhost') return undefined
  const preview = labels.length === 4 && labels[2] === 'preview'
  if (labels.length !== 3 && !preview) return undefined
  const [first, env] = labels as [string, string]
  if (!env) return undefined
  const sep = preview ? first.lastIndexOf('--') : -1
  const service = sep === -1 ? first : first.slice(sep + 2)
  const key = sep === -1 ? undefined : first.slice(0, sep)
  if (service === '' || (key !== undefined && !isRoutingKey(key))) return undefined
  return key === undefined ? { env, service } : { env, service, key }
}

/**
 * The key of a request, first found of: the preview host's, `x-tidepool-route`, baggage. `problems`
 * collects what made a header carry no key (logged by the router, never an error to the client).
 */
export function routeKeyOf(host: HostRoute, headers: { [k: string]: string | string[] | undefined }, problems: string[]): string | undefined {
  if (host.key) return host.key
  const h = headers[ROUTE_HEADER]
  if (h !== undefined) {
    const v = (Array.isArray(h) ? h[0]! : h).trim()
    if (isRoutingKey(v)) return v
    problems.push('x-tidepool-route is not a routing key')
  }
  const b = headers.baggage
  if (b !== undefined) {
    const got = keyFromBaggage(Array.isArray(b) ? b.join(',') : b)
    if (got.key) return got.key
    if ('problem' in got && got.problem) problems.push(got.problem)
  }
  return undefined
}
