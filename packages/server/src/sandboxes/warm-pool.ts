/**
 * @module pools/warm-pool — sandboxes started ahead of demand (agent-sandbox's SandboxWarmPool), so a
 * create that matches a pool is a claim: no namespaces, mounts or cgroups made on the caller's path.
 *
 * A pooled sandbox is a runtime sandbox with no store row: nothing has run in it, and it is handed out
 * once (never back into the pool — a destroyed sandbox is gone, its replacement starts fresh). Because
 * it has no row, a control-plane crash leaves it an orphan that start-up reconcile destroys, and close()
 * destroys the rest: a pool never outlives its server.
 *
 * Refill runs in the background, one start at a time per pool, so a burst of claims never turns into
 * a burst of starts competing with the caller's own work; a start that fails backs off (doubling, to
 * 30 s) and is logged, and claims meanwhile are misses, never errors.
 */
import type { Logger } from '../core/log.js'
import type { Runtime, RuntimeRef, SandboxSpec } from '../runtime/runtime.js'

/** What a pool holds: every sandbox started with this spec (its id aside). */
export type PooledSpec = Omit<SandboxSpec, 'id'>

export interface WarmPoolTarget {
  /** A name for metrics and logs (e.g. the template's). */
  name: string
  spec: PooledSpec
  /** How many ready sandboxes to keep (0 empties the pool). */
  replicas: number
}

export interface WarmPoolStats {
  name: string
  replicas: number
  ready: number
  hits: number
  misses: number
  /** Median time a refill start took, in ms (undefined before the first). */
  refillP50Ms?: number
  lastError?: string
}

export interface WarmPoolDeps {
  runtime: Runtime
  log: Logger
  /** A fresh sandbox id (the id the claimer's sandbox will have). */
  newId: () => string
  now?: () => number
}

/** The key two specs share exactly when a sandbox started with one is what the other would start. */
export function poolKey(spec: PooledSpec): string {
  const { template, resources, denyRead, fromSnapshot } = spec
  return JSON.stringify([
    spec.isolation ?? 'namespaces',
    template.name,
    template.rootfs,
    template.layers ?? [],
    resources.cpu,
    resources.memoryMb,
    resources.pids,
    resources.diskMb ?? null,
    [...denyRead].sort(),
    fromSnapshot ?? null,
  ])
}

interface Pool {
  target: WarmPoolTarget
  ready: RuntimeRef[]
  hits: number
  misses: number
  refillMs: number[]
  filling: boolean
  failures: number
  retryAt: number
  lastError?: string
}

const MAX_BACKOFF_MS = 30_000
const KEPT_REFILL_SAMPLES = 64

export class WarmPools {
  readonly #pools = new Map<string, Pool>()
  readonly #d: WarmPoolDeps
  readonly #now: () => number
  #closed = false
  #timer: NodeJS.Timeout | undefined

  constructor(d: WarmPoolDeps) {
    this.#d = d
    this.#now = d.now ?? (() => performance.now())
  }

  /** Sets the pools wanted (replacing earlier targets); pools no longer wanted are drained. */
  configure(targets: readonly WarmPoolTarget[]): void {
    const wanted = new Map(targets.map((t) => [poolKey(t.spec), t]))
    for (const [key, pool] of this.#pools) {
      if (wanted.has(key)) continue
      pool.target = { ...pool.target, replicas: 0 }
    }
    for (const [key, target] of wanted) {
      const pool = this.#pools.get(key)
      if (pool) pool.target = target
      else this.#pools.set(key, { target, ready: [], hits: 0, misses: 0, refillMs: [], filling: false, failures: 0, retryAt: 0 })
    }
    this.#kick()
  }

  /**
   * A ready sandbox started with exactly `spec`, now the caller's, or undefined (a miss). Synchronous: no
   * I/O. The refill starts on the next turn of the event loop unless `deferRefill` (then call refill()
   * when the claimer is done): spawning a sandbox blocks the loop for a moment, which the claimer's own
   * remaining work should not wait behind.
   */
  claim(spec: PooledSpec, o: { deferRefill?: boolean } = {}): RuntimeRef | undefined {
    const pool = this.#pools.get(poolKey(spec))
    if (!pool) return undefined
    const ref = pool.ready.shift()
    if (ref) pool.hits++
    else pool.misses++
    if (!o.deferRefill) this.refill()
    return ref
  }

  /** Starts refilling what claims took (on the next turn of the event loop). */
  refill(): void {
    setImmediate(() => this.#kick())
  }

  stats(): WarmPoolStats[] {
    return [...this.#pools.values()].map((p) => ({
      name: p.target.name,
      replicas: p.target.replicas,
      ready: p.ready.length,
      hits: p.hits,
      misses: p.misses,
      ...(p.refillMs.length ? { refillP50Ms: median(p.refillMs) } : {}),
      ...(p.lastError ? { lastError: p.lastError } : {}),
    }))
  }

  /** Resolves once every pool holds its replicas (or has failed to start one): for tests and the demo. */
  async settled(): Promise<void> {
    await new Promise((r) => setImmediate(r)) // a refill a claim just scheduled has begun
    for (let i = 0; i < 10_000 && !this.#closed; i++) {
      const busy = [...this.#pools.values()].some((p) => p.filling || (p.ready.length < p.target.replicas && p.failures === 0))
      if (!busy) return
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  /** Stops refilling and destroys every unclaimed sandbox. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
    for (let i = 0; i < 1000 && [...this.#pools.values()].some((p) => p.filling); i++) await new Promise((r) => setTimeout(r, 5))
    const refs = [...this.#pools.values()].flatMap((p) => p.ready.splice(0))
    await Promise.all(refs.map((r) => this.#d.runtime.destroy(r.id).catch((err: unknown) => this.#d.log.warn({ err, id: r.id }, 'warm pool: could not destroy a pooled sandbox'))))
  }

  /** Starts a refill of every pool that is short, and drains every pool that is over. */
  #kick(): void {
    if (this.#closed) return
    for (const pool of this.#pools.values()) {
      while (pool.ready.length > pool.target.replicas) {
        const extra = pool.ready.pop()!
        void this.#d.runtime.destroy(extra.id).catch((err: unknown) => this.#d.log.warn({ err, id: extra.id }, 'warm pool: could not destroy a surplus sandbox'))
      }
      if (pool.filling || pool.ready.length >= pool.target.replicas) continue
      const wait = pool.retryAt - this.#now()
      if (wait > 0) {
        this.#timer ??= setTimeout(() => ((this.#timer = undefined), this.#kick()), wait).unref()
        continue
      }
      pool.filling = true
      void this.#fill(pool).finally(() => {
        pool.filling = false
        this.#kick()
      })
    }
  }

  async #fill(pool: Pool): Promise<void> {
    const id = this.#d.newId()
    const t0 = this.#now()
    try {
      const ref = await this.#d.runtime.start({ ...pool.target.spec, id })
      if (this.#closed || pool.ready.length >= pool.target.replicas) {
        await this.#d.runtime.destroy(id)
        return
      }
      pool.ready.push(ref)
      pool.refillMs.push(this.#now() - t0)
      if (pool.refillMs.length > KEPT_REFILL_SAMPLES) pool.refillMs.shift()
      pool.failures = 0
      delete pool.lastError
    } catch (err) {
      // The runtime cleans a failed start itself; this destroy is for a start that failed after it was made.
      await this.#d.runtime.destroy(id).catch((e: unknown) => this.#d.log.warn({ err: e, id }, 'warm pool: cleanup after a failed refill'))
      pool.failures++
      pool.lastError = err instanceof Error ? err.message : String(err)
      pool.retryAt = this.#now() + Math.min(MAX_BACKOFF_MS, 100 * 2 ** (pool.failures - 1))
      this.#d.log.warn({ pool: pool.target.name, err: pool.lastError, failures: pool.failures }, 'warm pool: refill start failed; backing off')
    }
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
