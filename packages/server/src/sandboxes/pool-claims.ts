/**
 * @module sandboxes/pool-claims — the configured warm pools (config `warmPools`) of the sandboxes area:
 * which project and template each serves, the exact spec its sandboxes start with, and claims.
 *
 * A pool's spec is what a create of that template with no overrides would start: the template's
 * resolved base and last layer, the server's default resources under the template's, no denyRead. A
 * create asking for anything else simply misses. When a template is rebuilt its resolved spec changes,
 * so creates miss until the pools are re-resolved: a miss on a configured pool re-resolves in the
 * background (once at a time), and the old spec's pool drains.
 */
import type { Logger } from '../core/log.js'
import { newId } from '../core/ids.js'
import type { ResourceLimits, Runtime, RuntimeRef } from '../runtime/runtime.js'
import type { TemplateResolver } from '../kit/template-seam.js'
import type { WarmPoolConfig } from './config.js'
import { type PooledSpec, type WarmPoolStats, WarmPools } from './warm-pool.js'

export interface PoolClaimDeps {
  runtime: Runtime
  log: Logger
  templates: TemplateResolver
  pools: readonly WarmPoolConfig[]
  defaults: ResourceLimits
}

export interface ProjectPoolStats extends WarmPoolStats {
  template: string
}

export class SandboxPools {
  readonly #pools: WarmPools
  readonly #d: PoolClaimDeps
  #resolving: Promise<void> | undefined
  /** Pool name (`project/template`) → the spec it was last configured with. */
  #specs = new Map<string, PooledSpec>()

  constructor(d: PoolClaimDeps) {
    this.#d = d
    this.#pools = new WarmPools({ runtime: d.runtime, log: d.log, newId: () => newId('sbx', 16) })
  }

  /** Whether any pool is configured (creates skip the claim entirely otherwise). */
  get enabled(): boolean {
    return this.#d.pools.some((p) => p.replicas > 0)
  }

  /** Resolves every pool's template and (re)starts filling; a template that does not resolve is logged and skipped. */
  async configure(): Promise<void> {
    const specs = new Map<string, PooledSpec>()
    for (const p of this.#d.pools) {
      try {
        const t = await this.#d.templates.resolve(p.project, p.template)
        const resources = { ...this.#d.defaults, ...t.resources }
        specs.set(`${p.project}/${p.template}`, { template: t.spec, resources, denyRead: [], ...(t.fromSnapshot ? { fromSnapshot: t.fromSnapshot } : {}) })
      } catch (err) {
        this.#d.log.warn({ project: p.project, template: p.template, err: (err as Error).message }, 'warm pool: its template does not resolve; the pool stays empty')
      }
    }
    this.#specs = specs
    this.#pools.configure(
      this.#d.pools.flatMap((p) => {
        const spec = specs.get(`${p.project}/${p.template}`)
        return spec ? [{ name: `${p.project}/${p.template}`, spec, replicas: p.replicas }] : []
      }),
    )
  }

  /** A ready sandbox for this create, or undefined. Synchronous apart from a background re-resolve on a miss. */
  claim(project: string, template: string, spec: PooledSpec): RuntimeRef | undefined {
    const name = `${project}/${template}`
    if (!this.#d.pools.some((p) => `${p.project}/${p.template}` === name && p.replicas > 0)) return undefined
    const ref = this.#pools.claim(spec, { deferRefill: true })
    // A miss because the template was rebuilt (its layers differ from the pool's): re-resolve. A miss
    // because the create asked for other resources or masks is just a miss.
    const pooled = this.#specs.get(name)
    const rebuilt = !pooled || JSON.stringify([pooled.template, pooled.fromSnapshot]) !== JSON.stringify([spec.template, spec.fromSnapshot])
    if (!ref && rebuilt) this.#reresolve()
    return ref
  }

  /** After a create that claimed: start the refill (kept off the create's own path). */
  refill(): void {
    this.#pools.refill()
  }

  /** The pools serving a project, with their figures. */
  stats(project: string): ProjectPoolStats[] {
    return this.#pools
      .stats()
      .filter((s) => s.name.startsWith(`${project}/`) && s.replicas > 0)
      .map((s) => ({ ...s, template: s.name.slice(project.length + 1) }))
  }

  /** For tests and the demo: resolves once every pool is full (or failing). */
  settled(): Promise<void> {
    return this.#pools.settled()
  }

  async close(): Promise<void> {
    await this.#resolving
    await this.#pools.close()
  }

  #reresolve(): void {
    this.#resolving ??= this.configure()
      .catch((err: unknown) => this.#d.log.warn({ err }, 'warm pool: re-resolving templates failed'))
      .finally(() => (this.#resolving = undefined))
  }
}
