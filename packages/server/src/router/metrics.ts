/** @module router/metrics — per-route counters of the router: requests, fallbacks, errors and latency, per environment. */

/** Latency samples kept per route for the quantiles. */
const WINDOW = 1024

interface Counter {
  service: string
  target: string
  requests: number
  fallbacks: number
  errors: number
  samples: Float64Array
  filled: number
  next: number
}

export interface RouteMetricView {
  service: string
  target: string
  requests: number
  fallbacks: number
  errors: number
  latencyMs: { p50: number; p99: number }
}

export class RouteMetrics {
  /** Set while a router of this process is listening. */
  running = false
  readonly #byEnv = new Map<string, Map<string, Counter>>()

  /** One request answered: `target` is 'baseline' or the fork's key; `ms` the time to response headers. */
  record(env: string, service: string, target: string, o: { ms: number; fallback: boolean; error: boolean }): void {
    let routes = this.#byEnv.get(env)
    if (!routes) this.#byEnv.set(env, (routes = new Map()))
    const id = `${service}@${target}`
    let c = routes.get(id)
    if (!c) routes.set(id, (c = { service, target, requests: 0, fallbacks: 0, errors: 0, samples: new Float64Array(WINDOW), filled: 0, next: 0 }))
    c.requests++
    if (o.fallback) c.fallbacks++
    if (o.error) c.errors++
    c.samples[c.next] = o.ms
    c.next = (c.next + 1) % WINDOW
    c.filled = Math.min(WINDOW, c.filled + 1)
  }

  of(env: string): RouteMetricView[] {
    const routes = this.#byEnv.get(env)
    if (!routes) return []
    return [...routes.values()]
      .sort((a, b) => (a.service === b.service ? (a.target < b.target ? -1 : 1) : a.service < b.service ? -1 : 1))
      .map((c) => {
        const sorted = Array.from(c.samples.subarray(0, c.filled)).sort((a, b) => a - b)
        return { service: c.service, target: c.target, requests: c.requests, fallbacks: c.fallbacks, errors: c.errors, latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) } }
      })
  }

  /** An environment was deleted: its counters go with it. */
  forget(env: string): void {
    this.#byEnv.delete(env)
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0
  const v = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return Math.round(v * 1000) / 1000
}
