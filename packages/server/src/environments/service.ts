/** @module environments/service — environments (a baseline of services) and forks keyed by a routing key, project-scoped. */
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Environment, Fork, OpInput, Principal } from '@tidepool/sdk'
import { type Clock, iso } from '../core/clock.js'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { type Logger, silentLogger } from '../core/log.js'
import { decodeCursor } from '../kit/cursor.js'
import { type Page, pageOf } from '../kit/page.js'
import type { RouteEnvironment, RouteUpstream } from '../router/router.js'
import type { Db } from '../store/opened-store.js'
import { acquire, type ForkData, type ForkSandboxes, type Held, release, systemPrincipal } from './fork-resources.js'
import { type EnvironmentRow, environmentsDb, type ForkRow } from './tables.js'

/** A baseline service as stored: a URL upstream, or a port in a sandbox. */
export interface StoredService {
  name: string
  upstream?: string | undefined
  sandbox?: string | undefined
  port?: number | undefined
  protocol?: 'http1' | 'h2c' | undefined
  resources?: { cpu?: number | undefined; memoryMb?: number | undefined } | undefined
}

/** The event-stream subject of an environment's routing events (environment names are unique on the server). */
export const environmentSubject = (env: string) => `env:${env}`

/** A routing event of an environment (fork added/removed, fallback, upstream error) for the event stream. */
export interface RoutingEvent {
  project: string
  env: string
  kind: string
  actor: string
  data: Record<string, unknown>
}

export interface EnvironmentServiceDeps {
  db: Db
  clock: Clock
  /** The routed URL of a service (the router's address), e.g. http://b.shop.localhost:7071. */
  routedUrl: (env: string, service: string) => string
  /** How long a health probe of a fork's upstream waits for a TCP connection. */
  probeTimeoutMs?: number
  /** Forks in sandboxes (sandbox, launch); absent: only URL upstreams. */
  sandboxes?: ForkSandboxes | undefined
  /** Fork databases (database.mirror). */
  data?: ForkData | undefined
  /** The event stream (main.ts: subject env:<name>). */
  emit?: ((e: RoutingEvent) => void) | undefined
  log?: Logger | undefined
}

type P = Pick<Principal, 'project' | 'tokenId'>

export class EnvironmentService {
  readonly #listeners = new Set<() => void>()

  constructor(private readonly deps: EnvironmentServiceDeps) {}

  /** Calls `fn` after every change of an environment or fork (the router drops its cached table). */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  async create(p: P, input: OpInput<'createEnvironment'>): Promise<Environment> {
    const db = environmentsDb(this.deps.db)
    const services: StoredService[] = input.services.map((s) => ({
      name: s.name,
      ...(s.upstream !== undefined ? { upstream: s.upstream } : { sandbox: s.sandbox, port: s.port }),
      ...(s.protocol ? { protocol: s.protocol } : {}),
      ...(s.resources ? { resources: s.resources } : {}),
    }))
    for (const s of services) if (s.sandbox) await this.#sandboxes().check(p, s.sandbox)
    const row: EnvironmentRow = { name: input.name, project: p.project, services: JSON.stringify(services), created_by: p.tokenId, created_at: iso(this.deps.clock.now()) }
    const inserted = await db
      .insertInto('environments')
      .values(row)
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst()
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0)
      throw new AppError('conflict', `environment name ${input.name} is taken (names are unique on the server: they are host names); choose another name`)
    this.#changed()
    return this.#view(row, [])
  }

  async list(p: P, input: { limit: number; nextToken?: string | undefined }): Promise<Page<Environment>> {
    const after = decodeCursor(input.nextToken)
    let q = environmentsDb(this.deps.db).selectFrom('environments').selectAll().where('project', '=', p.project)
    if (after !== undefined) q = q.where('name', '>', after)
    const rows = await q
      .orderBy('name')
      .limit(input.limit + 1)
      .execute()
    const forks = await this.#forksOf(
      p.project,
      rows.map((r) => r.name),
    )
    const items = rows.map((r) =>
      this.#view(
        r,
        forks.filter((f) => f.environment === r.name),
      ),
    )
    return pageOf(items, input.limit, (e) => e.name)
  }

  async get(p: P, env: string): Promise<Environment> {
    const row = await this.#row(p, env)
    const forks = await this.#forksOf(p.project, [env])
    const view = this.#view(row, forks)
    return { ...view, forks: await this.#withHealth(view.forks) }
  }

  /** Idempotent: an environment that does not exist (or is another project's) is already gone. */
  async delete(p: P, env: string): Promise<void> {
    const db = environmentsDb(this.deps.db)
    const row = await db.selectFrom('environments').select('name').where('name', '=', env).where('project', '=', p.project).executeTakeFirst()
    if (!row) return
    const forks = await db.selectFrom('environment_forks').selectAll().where('environment', '=', env).execute()
    await db.transaction().execute(async (tx) => {
      await tx.deleteFrom('environment_forks').where('environment', '=', env).execute()
      await tx.deleteFrom('environments').where('name', '=', env).execute()
    })
    this.#changed()
    for (const f of forks) await this.#ended(f, 'environment_deleted')
  }

  async createFork(p: Principal, input: OpInput<'createFork'>): Promise<Fork> {
    const env = await this.#row(p, input.env)
    const services = JSON.parse(env.services) as StoredService[]
    if (!services.some((s) => s.name === input.service))
      throw new AppError('invalid_request', `environment ${input.env} has no service ${input.service}; its services are ${services.map((s) => s.name).join(', ')}`)
    const db = environmentsDb(this.deps.db)
    const key = input.routingKey ?? newRoutingKey()
    const taken = () => new AppError('conflict', `service ${input.service} of environment ${input.env} already has a fork for routing key ${key}; delete it first or use another key`)
    // Before any sandbox or clone is made: a taken key changes nothing.
    const existing = await db.selectFrom('environment_forks').select('id').where('environment', '=', input.env).where('service', '=', input.service).where('routing_key', '=', key).executeTakeFirst()
    if (existing) throw taken()
    const held = await acquire(this.#resourceDeps(), p, input, key)
    const now = this.deps.clock.now()
    const row: ForkRow = {
      id: newId('frk'),
      environment: input.env,
      project: p.project,
      service: input.service,
      routing_key: key,
      upstream: input.upstream ?? `sandbox:${held.sandbox}:${input.port}`,
      created_by: p.tokenId,
      created_at: iso(now),
      expires_at: input.ttlSeconds === undefined ? null : iso(now + input.ttlSeconds * 1000),
      sandbox_id: held.sandbox ?? null,
      port: held.sandbox ? (input.port ?? null) : null,
      protocol: input.protocol ?? null,
      owns_sandbox: held.ownsSandbox ? 1 : 0,
      clone_id: held.clone?.id ?? null,
      clone_url: held.clone?.url ?? null,
    }
    const inserted = await db
      .insertInto('environment_forks')
      .values(row)
      .onConflict((oc) => oc.columns(['environment', 'service', 'routing_key']).doNothing())
      .executeTakeFirst()
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
      await release(this.#resourceDeps(), p, held)
      throw taken()
    }
    this.#changed()
    this.#emit(row, 'fork_added', p.tokenId, {})
    return forkView(row)
  }

  async listForks(p: P, env: string): Promise<{ items: Fork[] }> {
    await this.#row(p, env)
    return { items: await this.#withHealth((await this.#forksOf(p.project, [env])).map(forkView)) }
  }

  /** Idempotent. Requests in flight on the fork finish there; new ones with its key go to the baseline. */
  async deleteFork(p: P, env: string, id: string): Promise<void> {
    await this.#row(p, env)
    const db = environmentsDb(this.deps.db)
    const row = await db.selectFrom('environment_forks').selectAll().where('id', '=', id).where('environment', '=', env).where('project', '=', p.project).executeTakeFirst()
    if (!row) return
    const res = await db.deleteFrom('environment_forks').where('id', '=', id).executeTakeFirst()
    if (Number(res.numDeletedRows) === 0) return // a concurrent delete ended it
    this.#changed()
    await this.#ended(row, 'deleted', p.tokenId)
  }

  /** A sandbox ended: the forks running in it end too (the router falls back to the baseline at once). */
  async forgetSandbox(sandboxId: string): Promise<number> {
    const db = environmentsDb(this.deps.db)
    const rows = await db.selectFrom('environment_forks').selectAll().where('sandbox_id', '=', sandboxId).execute()
    if (rows.length === 0) return 0
    await db.deleteFrom('environment_forks').where('sandbox_id', '=', sandboxId).execute()
    this.#changed()
    for (const r of rows) await this.#ended({ ...r, owns_sandbox: 0 }, 'sandbox_ended')
    return rows.length
  }

  /** Deletes forks past their TTL; returns how many. The reaper calls it; so does every table load. */
  async reapExpired(): Promise<number> {
    const db = environmentsDb(this.deps.db)
    const now = iso(this.deps.clock.now())
    const rows = await db.selectFrom('environment_forks').selectAll().where('expires_at', 'is not', null).where('expires_at', '<=', now).execute()
    if (rows.length === 0) return 0
    await db
      .deleteFrom('environment_forks')
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute()
    this.#changed()
    for (const r of rows) await this.#ended(r, 'expired')
    return rows.length
  }

  /** Every environment of every project, as the router routes them (expired forks left out). */
  async routeTable(): Promise<Map<string, RouteEnvironment>> {
    const db = environmentsDb(this.deps.db)
    const now = iso(this.deps.clock.now())
    const envs = await db.selectFrom('environments').selectAll().execute()
    const forks = await db.selectFrom('environment_forks').selectAll().execute()
    const table = new Map<string, RouteEnvironment>()
    for (const e of envs) {
      const services = new Map<string, { baseline: RouteUpstream; forks: Map<string, RouteUpstream> }>()
      for (const s of JSON.parse(e.services) as StoredService[]) services.set(s.name, { baseline: routeUpstreamOf(s), forks: new Map() })
      table.set(e.name, { name: e.name, project: e.project, services })
    }
    for (const f of forks) {
      if (f.expires_at !== null && f.expires_at <= now) continue
      const up: RouteUpstream = f.sandbox_id ? { sandbox: f.sandbox_id, port: f.port! } : { url: f.upstream }
      if (f.protocol === 'h2c') up.protocol = 'h2c'
      table.get(f.environment)?.services.get(f.service)?.forks.set(f.routing_key, up)
    }
    return table
  }

  async #row(p: P, env: string): Promise<EnvironmentRow> {
    const row = await environmentsDb(this.deps.db).selectFrom('environments').selectAll().where('name', '=', env).where('project', '=', p.project).executeTakeFirst()
    if (!row) throw notFound('environment', env)
    return row
  }

  async #forksOf(project: string, envs: string[]): Promise<ForkRow[]> {
    if (envs.length === 0) return []
    const now = iso(this.deps.clock.now())
    const rows = await environmentsDb(this.deps.db)
      .selectFrom('environment_forks')
      .selectAll()
      .where('project', '=', project)
      .where('environment', 'in', envs)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.filter((r) => r.expires_at === null || r.expires_at > now)
  }

  #view(row: EnvironmentRow, forks: ForkRow[] | Fork[]): Environment {
    const services = (JSON.parse(row.services) as StoredService[]).map((s) => ({
      name: s.name,
      upstream: s.upstream ?? `sandbox:${s.sandbox}:${s.port}`,
      ...(s.sandbox ? { sandbox: s.sandbox, port: s.port } : {}),
      ...(s.protocol ? { protocol: s.protocol } : {}),
      url: this.deps.routedUrl(row.name, s.name),
      ...(s.resources ? { resources: s.resources } : {}),
    }))
    return { name: row.name, project: row.project, createdAt: row.created_at, services, forks: forks.map((f) => ('routing_key' in f ? forkView(f) : f)) }
  }

  async #withHealth(forks: Fork[]): Promise<Fork[]> {
    const timeoutMs = this.deps.probeTimeoutMs ?? 500
    return Promise.all(
      forks.map(async (f) => {
        const up = f.sandbox ? await this.#probeSandbox(f, timeoutMs) : await probe(f.upstream, timeoutMs)
        return { ...f, health: up ? ('up' as const) : ('down' as const) }
      }),
    )
  }

  async #probeSandbox(f: Fork, timeoutMs: number): Promise<boolean> {
    const row = await environmentsDb(this.deps.db).selectFrom('environment_forks').select('project').where('id', '=', f.id).executeTakeFirst()
    if (!row || !this.deps.sandboxes) return false
    const conn = this.deps.sandboxes.connect(row.project, f.sandbox!, f.port!)
    const timer = new Promise<false>((r) => setTimeout(() => r(false), timeoutMs).unref())
    return Promise.race([conn.then((s) => (s.destroy(), true)).catch(() => false), timer])
  }

  #sandboxes(): ForkSandboxes {
    if (!this.deps.sandboxes) throw new AppError('runtime_unavailable', 'this server runs no sandboxes for services in sandboxes: use an upstream URL')
    return this.deps.sandboxes
  }

  #resourceDeps() {
    return { sandboxes: this.deps.sandboxes, data: this.deps.data, log: this.#log() }
  }

  #log(): Logger {
    return this.deps.log ?? silentLogger
  }

  /** A fork's row is gone: end what it held, and say so in the event stream. */
  async #ended(r: ForkRow, reason: string, actor = 'system:environments'): Promise<void> {
    const held: Held = { sandbox: r.sandbox_id ?? undefined, ownsSandbox: r.owns_sandbox === 1, clone: r.clone_id ? { id: r.clone_id, url: '' } : undefined }
    await release(this.#resourceDeps(), systemPrincipal(r.project), held)
    this.#emit(r, 'fork_removed', actor, { reason })
  }

  #emit(r: ForkRow, kind: string, actor: string, data: Record<string, unknown>): void {
    this.deps.emit?.({ project: r.project, env: r.environment, kind, actor, data: { fork: r.id, service: r.service, key: r.routing_key, upstream: r.upstream, ...data } })
  }

  #changed(): void {
    for (const fn of this.#listeners) fn()
  }
}

function routeUpstreamOf(s: StoredService): RouteUpstream {
  const up: RouteUpstream = s.sandbox ? { sandbox: s.sandbox, port: s.port! } : { url: s.upstream! }
  if (s.protocol === 'h2c') up.protocol = 'h2c'
  return up
}

function forkView(r: ForkRow): Fork {
  return {
    id: r.id,
    environment: r.environment,
    service: r.service,
    routingKey: r.routing_key,
    upstream: r.upstream,
    ...(r.sandbox_id ? { sandbox: r.sandbox_id, port: r.port ?? 0, ownsSandbox: r.owns_sandbox === 1 } : {}),
    ...(r.protocol === 'h2c' ? { protocol: 'h2c' as const } : {}),
    ...(r.clone_id ? { database: { clone: r.clone_id, url: r.clone_url ?? '' } } : {}),
    createdAt: r.created_at,
    ...(r.expires_at ? { expiresAt: r.expires_at } : {}),
  }
}

/** A generated routing key: 12 characters of [a-z0-9], starting with a letter. */
export function newRoutingKey(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const bytes = randomBytes(12)
  let out = alphabet[bytes[0]! % 26]!
  for (let i = 1; i < bytes.length; i++) out += alphabet[bytes[i]! % alphabet.length]
  return out
}

/** Whether the upstream accepts a TCP connection within `timeoutMs`. */
function probe(upstream: string, timeoutMs: number): Promise<boolean> {
  const u = new URL(upstream)
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  return new Promise((resolve) => {
    const sock = connect({ host, port })
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}
