/**
 * @module router/traces — which version served each hop of a request: hops recorded per environment,
 * keyed by the W3C trace id (traceparent) the router saw or started, bounded in memory (the newest
 * traces per environment, a bounded number of hops each).
 */
import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export interface Hop {
  at: number
  service: string
  target: string
  key: string | undefined
  status: number
  ms: number
  fallback: boolean
}

export interface TraceView {
  traceId: string
  key?: string
  hops: { at: string; service: string; target: string; key?: string; status: number; ms: number; fallback: boolean }[]
}

/** traceparent: version-traceid-parentid-flags (W3C Trace Context §3.2); fixed lengths, so a fixed-size check. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/

/** The request's trace id, or a new one (with the traceparent header to send onward). */
export function traceIdOf(h: IncomingHttpHeaders): { id: string; made: boolean; header: string } {
  const tp = h.traceparent
  if (typeof tp === 'string' && tp.length === 55) {
    const m = TRACEPARENT.exec(tp)
    if (m && m[1] !== '00000000000000000000000000000000') return { id: m[1]!, made: false, header: tp }
  }
  const hex = randomBytes(24).toString('hex') // one call for both ids: this runs on every request without one
  const id = hex.slice(0, 32)
  return { id, made: true, header: `00-${id}-${hex.slice(32)}-01` }
}

export class RouteTraces {
  /** env → trace id → hops; a Map keeps insertion order, so the first key is the oldest trace. */
  readonly #byEnv = new Map<string, Map<string, Hop[]>>()

  constructor(
    readonly maxTracesPerEnv = 1000,
    readonly maxHopsPerTrace = 64,
  ) {}

  add(env: string, traceId: string, hop: Hop): void {
    let traces = this.#byEnv.get(env)
    if (!traces) this.#byEnv.set(env, (traces = new Map()))
    let hops = traces.get(traceId)
    if (!hops) {
      if (traces.size >= this.maxTracesPerEnv) traces.delete(traces.keys().next().value!)
      traces.set(traceId, (hops = []))
    }
    if (hops.length < this.maxHopsPerTrace) hops.push(hop)
  }

  /** Newest first; `key` keeps the traces whose hops carried it, `traceId` one trace. */
  query(env: string, q: { key?: string | undefined; traceId?: string | undefined; limit: number }): TraceView[] {
    const traces = this.#byEnv.get(env)
    if (!traces) return []
    const out: TraceView[] = []
    const ids = q.traceId !== undefined ? [q.traceId] : [...traces.keys()].reverse()
    for (const id of ids) {
      const hops = traces.get(id)
      if (!hops) continue
      if (q.key !== undefined && !hops.some((h) => h.key === q.key)) continue
      const key = hops.find((h) => h.key !== undefined)?.key
      out.push({
        traceId: id,
        ...(key !== undefined ? { key } : {}),
        hops: hops.map((h) => ({
          at: new Date(h.at).toISOString(),
          service: h.service,
          target: h.target,
          ...(h.key !== undefined ? { key: h.key } : {}),
          status: h.status,
          ms: Math.round(h.ms * 1000) / 1000,
          fallback: h.fallback,
        })),
      })
      if (out.length >= q.limit) break
    }
    return out
  }

  forget(env: string): void {
    this.#byEnv.delete(env)
  }
}
