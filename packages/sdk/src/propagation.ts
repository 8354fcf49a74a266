/**
 * @module propagation — carrying a tidepool routing key across the hops of a request, for services
 * without OpenTelemetry (with it, W3C baggage propagation already carries the `tidepool-route` member:
 * nothing else to do). Pure functions over plain header objects: no `node:` imports, no dependencies, so
 * a service imports `@tidepool/sdk/propagation` without the server.
 *
 * ```ts
 * import { propagate } from '@tidepool/sdk/propagation'
 * const headers = propagate(req.headers, { accept: 'application/json' }) // key and traceparent onward
 * await fetch('http://b.shop.localhost:7071/items', { headers })
 * ```
 */

/** The W3C baggage member the router reads the key from. */
export const ROUTE_BAGGAGE_MEMBER = 'tidepool-route'
/** The header the router also reads (one hop only: services forward baggage, not this). */
export const ROUTE_HEADER = 'x-tidepool-route'
/** The env var a fork's sandbox carries its routing key in. */
export const ROUTING_KEY_ENV = 'TIDEPOOL_ROUTING_KEY'
/** W3C Baggage limits the router applies: larger headers carry no key. */
export const MAX_BAGGAGE_BYTES = 8192

type HeaderBag = Record<string, string | string[] | undefined> | { get(name: string): string | null }

function header(h: HeaderBag, name: string): string | undefined {
  if (typeof (h as { get?: unknown }).get === 'function') return (h as { get(n: string): string | null }).get(name) ?? undefined
  const v = (h as Record<string, string | string[] | undefined>)[name]
  return Array.isArray(v) ? v.join(',') : v
}

/** A routing key: 1–63 of [a-z0-9-], starting with a letter or digit. */
export function isRoutingKey(s: string): boolean {
  if (s.length === 0 || s.length > 63) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c === 45 && i > 0))) return false
  }
  return true
}

/** The routing key a request carries (baggage member first, then x-tidepool-route), or undefined. */
export function routeKeyOf(headers: HeaderBag): string | undefined {
  const baggage = header(headers, 'baggage')
  if (baggage !== undefined && baggage.length <= MAX_BAGGAGE_BYTES) {
    for (const member of baggage.split(',')) {
      const pair = member.split(';')[0]!
      const eq = pair.indexOf('=')
      if (eq > 0 && pair.slice(0, eq).trim() === ROUTE_BAGGAGE_MEMBER) {
        const key = pair.slice(eq + 1).trim() // a routing key has no characters baggage would percent-encode
        return isRoutingKey(key) ? key : undefined
      }
    }
  }
  const direct = header(headers, ROUTE_HEADER)?.trim()
  return direct !== undefined && isRoutingKey(direct) ? direct : undefined
}

/** `baggage` with the tidepool-route member set to `key` (other members kept, in order). */
export function withRouteKey(baggage: string | undefined, key: string): string {
  if (!isRoutingKey(key)) throw new Error(`not a routing key: ${JSON.stringify(key)} (1-63 of a-z, 0-9 and -, not starting with -)`)
  const others = (baggage ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '' && m.split('=')[0]!.trim() !== ROUTE_BAGGAGE_MEMBER)
  return [...others, `${ROUTE_BAGGAGE_MEMBER}=${key}`].join(',')
}

/**
 * Headers for an outgoing call made while serving `incoming`: `outgoing` plus the incoming baggage
 * (with the routing key) and traceparent, so the next hop is routed and traced like this one. A fork
 * that got no key from its caller may pass its own (`env[ROUTING_KEY_ENV]`) as `fallbackKey`.
 */
export function propagate(incoming: HeaderBag, outgoing: Record<string, string> = {}, fallbackKey?: string): Record<string, string> {
  const out: Record<string, string> = { ...outgoing }
  const baggage = header(incoming, 'baggage')
  const key = routeKeyOf(incoming) ?? fallbackKey
  if (key !== undefined) out.baggage = withRouteKey(baggage, key)
  else if (baggage !== undefined) out.baggage = baggage
  const traceparent = header(incoming, 'traceparent')
  if (traceparent !== undefined) out.traceparent = traceparent
  return out
}
