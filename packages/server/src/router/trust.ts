/** @module router/trust — at a public edge, routing headers from untrusted clients are dropped before routing and forwarding. */
import type { IncomingHttpHeaders } from 'node:http'
import { BAGGAGE_MEMBER, ROUTE_HEADER } from './route-key.js'

/** A request carrying a valid tidepool token here keeps its routing headers (the router removes this header before forwarding). */
export const TOKEN_HEADER = 'x-tidepool-route-token'

/** Removes x-tidepool-route and the tidepool-route baggage member (other members stay, so tracing baggage still flows). */
export function stripRouting(headers: IncomingHttpHeaders): void {
  delete headers[ROUTE_HEADER]
  const b = headers.baggage
  if (b === undefined) return
  const kept = (Array.isArray(b) ? b.join(',') : b)
    .split(',')
    .filter((m) => {
      const eq = m.indexOf('=')
      return eq === -1 || m.slice(0, eq).trim() !== BAGGAGE_MEMBER
    })
    .join(',')
  if (kept.trim() === '') delete headers.baggage
  else headers.baggage = kept
}
