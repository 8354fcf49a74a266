/** @module data/clones — clones of mirrors: create (bound to a sandbox or not), snapshot, reset, TTL, destroy, recover after a restart. */
import type { Clone, DataSnapshot, Principal } from '@tidepool/sdk'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { decodeCursor } from '../kit/cursor.js'
import { bindingEnvs, SANDBOX_SOCKET_DIR, type SandboxBinding } from './binder.js'
import { cloneRefOf, type CloneDriver, type CloneRef } from './clone-driver.js'
import { checkCloneQuota, live } from './clone-quota.js'
import { actorOf, type DataContext } from './data-context.js'
import { paths } from './layout.js'
import { loggedAs } from './logged.js'
import type { Mirrors } from './mirrors.js'
import { keysetPageOf } from '../kit/page.js'
import { newPassword } from './pg-admin.js'
import type { DataCloneRow, DataSnapshotRow } from './tables.js'
import type { WarmPool } from './warm-pool.js'
import { cloneView, snapshotView } from './views.js'

export interface CreateClone {
  mirror: string
  sandbox?: string | undefined
  ttlSeconds?: number | undefined
}

/** Internal knobs (benchmarks compare strategies and paths in one run). */
export interface CreateCloneOptions {
  strategy?: 'reflink' | 'template'
  /** false: never hand out a warm clone (measure the cold path). */
  warm?: boolean
}

/** Plus warm clones: made ahead of demand, not yet anyone's (project ''). */
export const kept = ['creating', 'ready', 'stopped', 'warm']

export class Clones {
  readonly #c: DataContext
  readonly #mirrors: Mirrors
  /** Set by the service: running clones made ahead of demand. */
  warm: WarmPool | undefined

  constructor(c: DataContext, mirrors: Mirrors) {
    this.#c = c
    this.#mirrors = mirrors
  }

  async row(p: Principal | string, id: string): Promise<DataCloneRow> {
    const project = typeof p === 'string' ? p : p.project
    const row = await this.#c.db.selectFrom('data_clones').selectAll().where('id', '=', id).where('project', '=', project).executeTakeFirst()
    if (!row) throw notFound('clone', id)
    return row
  }

  async #live(p: Principal, id: string): Promise<DataCloneRow> {
    const row = await this.row(p, id)
    if (row.state === 'destroyed') throw new AppError('not_found', `clone ${id} was destroyed (${row.reason ?? 'destroyed'}) at ${row.destroyed_at}`)
    if (row.state === 'creating') throw new AppError('conflict', `clone ${id} is still being created`)
    return row
  }

  async view(row: DataCloneRow): Promise<Clone> {
    const snaps = await this.#c.db.selectFrom('data_snapshots').selectAll().where('clone_id', '=', row.id).orderBy('created_at').execute()
    return cloneView(row, snaps)
  }

  async get(p: Principal, id: string): Promise<Clone> {
    return this.view(await this.#live(p, id))
  }

  async list(p: Principal, q: { limit: number; nextToken?: string | undefined }): Promise<{ items: Clone[]; nextToken?: string }> {
    return keysetPageOf({
      ...q,
      fetch: (after, n) => {
        const query = this.#c.db.selectFrom('data_clones').selectAll().where('project', '=', p.project).where('state', 'in', ['ready', 'stopped']).orderBy('id').limit(n)
        return (after ? query.where('id', '>', after) : query).execute()
      },
      view: (r) => this.view(r),
    })
  }

  async create(p: Principal, i: CreateClone, opts: CreateCloneOptions = {}): Promise<Clone> {
    const mirror = await this.#mirrors.mirrorRow(p, i.mirror)
    if (!mirror.base_dir) {
      throw new AppError('conflict', mirror.state === 'failed' ? `mirror ${mirror.id} failed to build; refresh it first` : `mirror ${mirror.id} is still being built; wait until its state is ready`)
    }
    const o = await this.#c.open()
    const driver: CloneDriver = opts.strategy ? this.#c.driver(opts.strategy) : o.defaultDriver
    const ttl = i.ttlSeconds ?? this.#c.cfg.defaultTtlSeconds
    const id = newId('dcl', 16)
    const password = newPassword()
    const base = mirror.base_dir
    const major = Number(mirror.pg_version.split('.')[0])
    const bins = this.#c.binsFor(major)
    const row: DataCloneRow = {
      id,
      project: p.project,
      mirror_id: mirror.id,
      sandbox_id: i.sandbox ?? null,
      strategy: driver.strategy,
      state: 'creating',
      server_id: null,
      data_dir: null,
      base_dir: base,
      socket_dir: '',
      port: 0,
      pg_major: major,
      database: mirror.database,
      user_name: id,
      password,
      disk_bytes: 0,
      created_at: this.#c.now(),
      expires_at: new Date(this.#c.clock.now() + ttl * 1000).toISOString(),
      reset_at: null,
      destroyed_at: null,
      reason: null,
    }
    // Quota and binding checks and the row under one project lock: two requests cannot both take the last slot.
    const claimed = await this.#c.locks.run(`clones:${p.project}`, async () => {
      await checkCloneQuota(this.#c, p.project, { clones: 1 })
      if (i.sandbox) await this.#checkSandbox(p.project, i.sandbox)
      if (opts.warm !== false && !opts.strategy) {
        const warm = await this.warm?.claim(mirror.id, base, { project: p.project, sandbox_id: i.sandbox ?? null, created_at: row.created_at, expires_at: row.expires_at })
        if (warm) return warm
      }
      await this.#c.db.insertInto('data_clones').values(row).execute()
      return undefined
    })
    if (claimed) {
      this.warm?.fill()
      Object.assign(row, claimed)
    }
    const made = claimed ? this.#c.driver(row.strategy) : driver
    try {
      if (!claimed) {
        const place = await driver.create({ id, user: id, password, mirrorDatabase: mirror.database, mirrorId: mirror.id, mirrorVersion: mirror.version, baseDir: base, bins })
        Object.assign(row, { state: 'ready', port: place.port, socket_dir: place.socketDir, database: place.database, data_dir: place.dataDir ?? null, server_id: place.serverId ?? null })
        await this.#c.db
          .updateTable('data_clones')
          .set({ state: row.state, port: row.port, socket_dir: row.socket_dir, database: row.database, data_dir: row.data_dir, server_id: row.server_id })
          .where('id', '=', id)
          .execute()
      }
      if (i.sandbox) {
        try {
          await this.#c.binder!.bind(p.project, i.sandbox, this.#binding(row))
        } catch (err) {
          await made.destroy(this.#ref(row), []).catch(loggedAs(this.#c.log, 'destroying the clone its sandbox could not take', { clone: row.id }))
          throw err
        }
      }
    } catch (err) {
      await this.#c.db.deleteFrom('data_clones').where('id', '=', row.id).execute()
      throw await this.#c.asAppError(err, p.project)
    }
    await this.#c.event(p.project, i.sandbox ?? row.id, 'data.clone.created', actorOf(p), { clone: row.id, mirror: mirror.id, strategy: row.strategy, warm: Boolean(claimed) })
    return this.view(row)
  }

  async #checkSandbox(project: string, sandboxId: string): Promise<void> {
    if (!this.#c.binder)
      throw new AppError('runtime_unavailable', 'binding a clone to a sandbox needs the sandbox runtime, which this server does not wire; create the clone without sandbox and pass its url instead')
    const state = await this.#c.binder.state(project, sandboxId)
    if (state === undefined) throw notFound('sandbox', sandboxId)
    if (state === 'stopped') throw new AppError('conflict', `sandbox ${sandboxId} is stopped; bind clones to a live sandbox`)
    const bound = await this.#c.db.selectFrom('data_clones').select('id').where('sandbox_id', '=', sandboxId).where('state', 'in', live).executeTakeFirst()
    if (bound) throw new AppError('conflict', `sandbox ${sandboxId} already has clone ${bound.id} (its DATABASE_URL); destroy that clone first`)
  }

  #binding(row: DataCloneRow): SandboxBinding {
    return { socketDir: row.socket_dir, target: SANDBOX_SOCKET_DIR, envs: bindingEnvs({ user: row.user_name, password: row.password, database: row.database, port: row.port }) }
  }

  #ref(row: DataCloneRow): CloneRef {
    return { ...cloneRefOf(row), mirrorDatabase: row.strategy === 'template' ? '' : row.database, bins: this.#c.binsFor(row.pg_major) }
  }

  /** The template strategy needs the mirror's database name (the clone's own differs). */
  async #fullRef(row: DataCloneRow): Promise<CloneRef> {
    const ref = this.#ref(row)
    if (row.strategy === 'template') {
      const m = await this.#c.db.selectFrom('data_mirrors').select('database').where('id', '=', row.mirror_id).executeTakeFirst()
      ref.mirrorDatabase = m?.database ?? ''
    }
    return ref
  }

  async patch(p: Principal, id: string, ttlSeconds: number): Promise<Clone> {
    return this.#c.locks.run(id, async () => {
      const row = await this.#live(p, id)
      row.expires_at = new Date(this.#c.clock.now() + ttlSeconds * 1000).toISOString()
      await this.#c.db.updateTable('data_clones').set({ expires_at: row.expires_at }).where('id', '=', id).execute()
      return this.view(row)
    })
  }

  async snapshot(p: Principal, id: string, label: string | undefined): Promise<DataSnapshot> {
    return this.#c.locks.run(id, async () => {
      const row = await this.#live(p, id)
      await this.#c.open()
      await checkCloneQuota(this.#c, p.project, { clones: 0 })
      const snapId = newId('dsnap', 12)
      const driver = this.#c.driver(row.strategy)
      try {
        const { location, port } = await driver.snapshot(await this.#fullRef(row), snapId)
        if (port !== row.port) await this.#c.db.updateTable('data_clones').set({ port }).where('id', '=', id).execute()
        const snap: DataSnapshotRow = { id: snapId, clone_id: id, project: p.project, location, label: label ?? null, created_at: this.#c.now() }
        await this.#c.db.insertInto('data_snapshots').values(snap).execute()
        await this.#c.event(p.project, row.sandbox_id ?? id, 'data.clone.snapshot', actorOf(p), { clone: id, snapshot: snapId })
        return snapshotView(snap)
      } catch (err) {
        throw await this.#c.asAppError(err, p.project)
      }
    })
  }

  async reset(p: Principal, id: string, to: string): Promise<Clone> {
    return this.#c.locks.run(id, async () => {
      const row = await this.#live(p, id)
      await this.#c.open()
      let target: { kind: 'start' } | { kind: 'snapshot'; id: string; location: string } = { kind: 'start' }
      if (to !== 'start') {
        const snap = await this.#c.db.selectFrom('data_snapshots').selectAll().where('id', '=', to).where('clone_id', '=', id).executeTakeFirst()
        if (!snap) throw new AppError('not_found', `snapshot ${to} not found on clone ${id}; list them with GET /v1/data/clones/${id}`)
        target = { kind: 'snapshot', id: snap.id, location: snap.location }
      }
      try {
        const port = await this.#c.driver(row.strategy).reset(await this.#fullRef(row), target)
        Object.assign(row, { port, reset_at: this.#c.now(), state: 'ready' })
        await this.#c.db.updateTable('data_clones').set({ port, reset_at: row.reset_at, state: 'ready' }).where('id', '=', id).execute()
      } catch (err) {
        await this.#c.db.updateTable('data_clones').set({ state: 'stopped' }).where('id', '=', id).execute()
        throw await this.#c.asAppError(err, p.project)
      }
      await this.#c.event(p.project, row.sandbox_id ?? id, 'data.clone.reset', actorOf(p), { clone: id, to })
      return this.view(row)
    })
  }

  /** Destroys a clone (idempotent: a destroyed one stays destroyed). */
  async destroy(project: string, id: string, reason: string, actor: string): Promise<void> {
    await this.#c.locks.run(id, async () => {
      const row = await this.row(project, id)
      if (row.state === 'destroyed') return
      await this.#c.open()
      const snaps = await this.#c.db.selectFrom('data_snapshots').selectAll().where('clone_id', '=', id).execute()
      if (row.sandbox_id && this.#c.binder && row.socket_dir) {
        await this.#c.binder.unbind(project, row.sandbox_id, this.#binding(row)).catch((err: unknown) => this.#c.log.warn({ err, clone: id }, 'unbinding the clone from its sandbox failed'))
      }
      const ref = await this.#fullRef(row)
      await this.#c.driver(row.strategy).destroy(ref, row.strategy === 'template' ? snaps.map((s) => s.location) : [])
      await this.#c.db.deleteFrom('data_snapshots').where('clone_id', '=', id).execute()
      await this.#c.db.updateTable('data_clones').set({ state: 'destroyed', destroyed_at: this.#c.now(), reason }).where('id', '=', id).execute()
      await this.#mirrors.collectBase(row.base_dir).catch((err: unknown) => this.#c.log.warn({ err }, 'old mirror base not collected'))
      await this.#c.event(project, row.sandbox_id ?? id, 'data.clone.destroyed', actor, { clone: id, reason })
    })
  }

  async remove(p: Principal, id: string): Promise<void> {
    await this.destroy(p.project, id, 'destroyed_by_user', actorOf(p))
  }

  /** Destroys the clones bound to a sandbox (call when the sandbox ends). */
  async releaseSandbox(project: string, sandboxId: string): Promise<number> {
    const rows = await this.#c.db.selectFrom('data_clones').select('id').where('project', '=', project).where('sandbox_id', '=', sandboxId).where('state', 'in', live).execute()
    for (const r of rows) await this.destroy(project, r.id, 'sandbox_ended', 'tidepool')
    return rows.length
  }

  /** Destroys clones whose TTL passed; returns their ids. */
  async expire(): Promise<string[]> {
    const now = new Date(this.#c.clock.now()).toISOString()
    const rows = await this.#c.db.selectFrom('data_clones').select(['id', 'project']).where('state', 'in', ['ready', 'stopped']).where('expires_at', '<=', now).execute()
    const done: string[] = []
    for (const r of rows) {
      try {
        await this.destroy(r.project, r.id, 'expired', 'tidepool')
        await this.#c.auditSystem(r.project, 'data.clone.expire', r.id, 'ok')
        done.push(r.id)
      } catch (err) {
        this.#c.log.error({ err, clone: r.id }, 'expiring a clone failed; retried on the next pass')
      }
    }
    return done
  }

  /** Refreshes each live clone's disk usage (exclusive bytes of its dir: data, spare and snapshots). */
  async measure(): Promise<void> {
    const o = this.#c.opened
    if (!o) return
    const rows = await this.#c.db.selectFrom('data_clones').select(['id', 'data_dir']).where('state', 'in', ['ready', 'stopped']).where('data_dir', 'is not', null).execute()
    for (const r of rows) {
      const u = await o.pool.usage(this.#c.abs(r.data_dir!)).catch(loggedAs(this.#c.log, 'measuring the disk usage of a clone', { clone: r.id }))
      if (u) await this.#c.db.updateTable('data_clones').set({ disk_bytes: u.exclusiveBytes }).where('id', '=', r.id).execute()
    }
  }

  /**
   * After a (re)start: half-made clones are removed, expired ones destroyed, and the rest adopted when
   * their server still runs (a crash of tidepool alone) or started again (a shutdown or host reboot).
   */
  async recover(): Promise<{ adopted: number; restarted: number; removed: number; failed: number }> {
    const out = { adopted: 0, restarted: 0, removed: 0, failed: 0 }
    const rows = await this.#c.db.selectFrom('data_clones').selectAll().where('state', 'in', kept).execute()
    for (const row of rows) {
      try {
        if (row.state === 'creating') {
          if (row.socket_dir)
            await this.#c
              .driver(row.strategy)
              .destroy(await this.#fullRef(row), [])
              .catch(loggedAs(this.#c.log, 'removing an interrupted clone', { clone: row.id }))
          else if (row.strategy === 'reflink') await this.#c.opened!.pool.remove(this.#c.abs(paths.clone(row.id)))
          await this.#c.db.updateTable('data_clones').set({ state: 'destroyed', destroyed_at: this.#c.now(), reason: 'interrupted' }).where('id', '=', row.id).execute()
          out.removed++
          continue
        }
        if (Date.parse(row.expires_at) <= this.#c.clock.now()) {
          await this.destroy(row.project, row.id, 'expired', 'tidepool')
          out.removed++
          continue
        }
        const driver = this.#c.driver(row.strategy)
        const ref = await this.#fullRef(row)
        const wasRunning = await driver.running(ref)
        const port = await driver.restart(ref)
        await this.#c.db
          .updateTable('data_clones')
          .set({ port, state: row.state === 'warm' ? 'warm' : 'ready' })
          .where('id', '=', row.id)
          .execute()
        if (wasRunning) out.adopted++
        else out.restarted++
      } catch (err) {
        out.failed++
        this.#c.log.error({ err, clone: row.id }, 'clone could not be recovered; it stays stopped until destroyed')
        await this.#c.db.updateTable('data_clones').set({ state: 'stopped' }).where('id', '=', row.id).execute()
      }
    }
    return out
  }

  /** Stops every clone's server (shutdown; recover() brings them back). */
  async stopAll(): Promise<void> {
    const o = this.#c.opened
    if (!o) return
    await this.warm?.settle()
    await o.reflink.settle()
    const rows = await this.#c.db.selectFrom('data_clones').selectAll().where('state', 'in', ['ready', 'stopped', 'warm']).where('strategy', '=', 'reflink').execute()
    for (const row of rows) await o.reflink.stop(this.#ref(row)).catch((err: unknown) => this.#c.log.warn({ err, clone: row.id }, 'stopping clone failed'))
    await o.template.stop()
  }
}
