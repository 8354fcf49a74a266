/** @module environments/service — environments (a baseline of services) and forks keyed by a routing key, project-scoped. */
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Environment, Fork, OpInput, Principal } from '@tidepool/sdk'
import { type Clock, iso } from '../core/clock.js'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { decodeCursor } from '../kit/cursor.js'
import { type Page, pageOf } from '../kit/page.js'
import type { RouteEnvironment } from '../router/router.js'
import type { Db } from '../store/opened-store.js'
import { type EnvironmentRow, environmentsDb, type ForkRow } from './tables.js'

/** A baseline service as stored. */
export interface StoredService {
  name: string
  upstream: string
  resources?: { cpu?: number | undefined; memoryMb?: number | undefined } | undefined
}

export interface EnvironmentServiceDeps {
  db: Db
  clock: Clock
  /** The routed URL of a service (the router's address), e.g. http://b.shop.localhost:7071. */
  routedUrl: (env: string, service: string) => string
  /** How long a health probe of a fork's upstream waits for a TCP connection. */
  probeTimeoutMs?: number
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
    const services: StoredService[] = input.services.map((s) => ({ name: s.name, upstream: s.upstream, ...(s.resources ? { resources: s.resources } : {}) }))
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
    await db.transaction().execute(async (tx) => {
      await tx.deleteFrom('environment_forks').where('environment', '=', env).execute()
      await tx.deleteFrom('environments').where('name', '=', env).execute()
    })
    this.#changed()
  }

  async createFork(p: P, input: OpInput<'createFork'>): Promise<Fork> {
    const env = await this.#row(p, input.env)
    const services = JSON.parse(env.services) as StoredService[]
    if (!services.some((s) => s.name === input.service))
      throw new AppError('invalid_request', `environment ${input.env} has no service ${input.service}; its services are ${services.map((s) => s.name).join(', ')}`)
    const now = this.deps.clock.now()
    const row: ForkRow = {
      id: newId('frk'),
      environment: input.env,
      project: p.project,
      service: input.service,
      routing_key: input.routingKey ?? newRoutingKey(),
      upstream: input.upstream,
      created_by: p.tokenId,
      created_at: iso(now),
      expires_at: input.ttlSeconds === undefined ? null : iso(now + input.ttlSeconds * 1000),
    }
    const inserted = await environmentsDb(this.deps.db)
      .insertInto('environment_forks')
      .values(row)
      .onConflict((oc) => oc.columns(['environment', 'service', 'routing_key']).doNothing())
      .executeTakeFirst()
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0)
      throw new AppError('conflict', `service ${input.service} of environment ${input.env} already has a fork for routing key ${row.routing_key}; delete it first or use another key`)
    this.#changed()
    return forkView(row)
  }

  async listForks(p: P, env: string): Promise<{ items: Fork[] }> {
    await this.#row(p, env)
    return { items: await this.#withHealth((await this.#forksOf(p.project, [env])).map(forkView)) }
  }

  /** Idempotent. Requests in flight on the fork finish there; new ones with its key go to the baseline. */
  async deleteFork(p: P, env: string, id: string): Promise<void> {
    await this.#row(p, env)
    const res = await environmentsDb(this.deps.db).deleteFrom('environment_forks').where('id', '=', id).where('environment', '=', env).where('project', '=', p.project).executeTakeFirst()
    if (Number(res.numDeletedRows) > 0) this.#changed()
  }

  /** Deletes forks past their TTL; returns how many. The reaper calls it; so does every table load. */
  async reapExpired(): Promise<number> {
    const res = await environmentsDb(this.deps.db).deleteFrom('environment_forks').where('expires_at', 'is not', null).where('expires_at', '<=', iso(this.deps.clock.now())).executeTakeFirst()
    const n = Number(res.numDeletedRows)
    if (n > 0) this.#changed()
    return n
  }

  /** Every environment of every project, as the router routes them (expired forks left out). */
  async routeTable(): Promise<Map<string, RouteEnvironment>> {
    const db = environmentsDb(this.deps.db)
    const now = iso(this.deps.clock.now())
    const envs = await db.selectFrom('environments').selectAll().execute()
    const forks = await db.selectFrom('environment_forks').selectAll().execute()
    const table = new Map<string, RouteEnvironment>()
    for (const e of envs) {
      const services = new Map<string, { baseline: string; forks: Map<string, string> }>()
      for (const s of JSON.parse(e.services) as StoredService[]) services.set(s.name, { baseline: s.upstream, forks: new Map() })
      table.set(e.name, { name: e.name, project: e.project, services })
    }
    for (const f of forks) {
      if (f.expires_at !== null && f.expires_at <= now) continue
      table.get(f.environment)?.services.get(f.service)?.forks.set(f.routing_key, f.upstream)
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
      upstream: s.upstream,
      url: this.deps.routedUrl(row.name, s.name),
      ...(s.resources ? { resources: s.resources } : {}),
    }))
    return { name: row.name, project: row.project, createdAt: row.created_at, services, forks: forks.map((f) => ('routing_key' in f ? forkView(f) : f)) }
  }

  async #withHealth(forks: Fork[]): Promise<Fork[]> {
    return Promise.all(forks.map(async (f) => ({ ...f, health: (await probe(f.upstream, this.deps.probeTimeoutMs ?? 500)) ? ('up' as const) : ('down' as const) })))
  }

  #changed(): void {
    for (const fn of this.#listeners) fn()
  }
}

function forkView(r: ForkRow): Fork {
  return { id: r.id, environment: r.environment, service: r.service, routingKey: r.routing_key, upstream: r.upstream, createdAt: r.created_at, ...(r.expires_at ? { expiresAt: r.expires_at } : {}) }
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
