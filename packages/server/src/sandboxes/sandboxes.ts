/** @module sandboxes/sandboxes — sandbox lifecycle: create, list, get, patch, pause/resume, destroy, expiry, reconcile. */
import { cpus } from 'node:os'
import type { Principal, SandboxInfo as Sandbox, SandboxMetrics, SandboxState } from '@tidepool/sdk'
import { auditedSystemAction, systemActors, type SystemActor, type SystemAudit } from '../audit/system-actor.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { Logger } from '../core/log.js'
import { KeyedMutex } from '../core/mutex.js'
import type { ResourceLimits, Runtime, RuntimeRef } from '../runtime/runtime.js'
import type { Db } from '../store/db.js'
import type { SandboxRow } from '../store/schema.js'
import { decodeCursor, encodeCursor } from '../kit/cursor.js'
import type { EventLog } from '../kit/events.js'
import { checkQuota, type Usage } from './quotas.js'
import { live, refOf, toSandbox } from './sandbox-row.js'
import { resolveTemplate } from './templates.js'

export interface CreateSandbox {
  template: string
  timeoutMs: number
  lifecycle: { onTimeout: 'kill' | 'pause'; autoResume: boolean }
  resources: Partial<ResourceLimits>
  network?: { allowedDomains: string[]; deniedDomains: string[] } | undefined
  filesystem?: { denyRead: string[] } | undefined
  envs: Record<string, string>
  metadata: Record<string, string>
}

/** A live sandbox as the exec and files services need it. */
export interface LiveSandbox {
  row: SandboxRow
  ref: RuntimeRef
  envs: Record<string, string>
}

export class SandboxService {
  readonly #lock = new KeyedMutex()
  readonly #hostCpus = cpus().length

  constructor(
    /** `audit` records what system actors (reaper, reconcile, watch) change; API calls are audited by dispatch. */
    private readonly deps: { db: Db; runtime: Runtime; config: Config; clock: Clock; log: Logger; events: EventLog; audit: SystemAudit },
  ) {}

  async create(p: Principal, input: CreateSandbox): Promise<Sandbox> {
    const { config, db, runtime, clock } = this.deps
    if (input.network && input.network.allowedDomains.length > 0) {
      throw new AppError('invalid_request', 'network.allowedDomains: egress is not available yet — sandboxes have loopback only; remove network.allowedDomains', [
        { path: 'network.allowedDomains', message: 'egress not available yet' },
      ])
    }
    // Accepted by the contract for the egress proxy to come; until then a denylist would be silently ignored.
    if (input.network && input.network.deniedDomains.length > 0) {
      throw new AppError('invalid_request', 'network.deniedDomains: egress is not available yet — sandboxes have loopback only, so nothing is reachable to deny; remove network.deniedDomains', [
        { path: 'network.deniedDomains', message: 'egress not available yet' },
      ])
    }
    const template = resolveTemplate(input.template)
    const resources: ResourceLimits = { ...config.defaults, ...input.resources }
    this.#checkCpu(resources.cpu)
    const id = newId('sbx', 16)
    const now = clock.now()
    const row: SandboxRow = {
      id,
      project: p.project,
      state: 'starting',
      reason: 'creating',
      template: template.name,
      created_at: iso(now),
      updated_at: iso(now),
      expires_at: iso(now + input.timeoutMs),
      timeout_ms: input.timeoutMs,
      lifecycle: JSON.stringify(input.lifecycle),
      resources: JSON.stringify(resources),
      envs: JSON.stringify(input.envs),
      metadata: JSON.stringify(input.metadata),
      deny_read: JSON.stringify(input.filesystem?.denyRead ?? []),
      runtime_ref: null,
      owner: p.tokenId,
    }
    // Quota check and the insert that reserves capacity happen under one per-project lock: no overshoot.
    await this.#lock.run(`project:${p.project}`, async () => {
      const used = await this.usage(p.project)
      checkQuota(config, p.project, used, { sandboxes: 1, memoryMb: resources.memoryMb, cpu: resources.cpu, pids: resources.pids }, await this.#soonestExpiryS(p.project))
      await db.insertInto('sandboxes').values(row).execute()
    })
    let ref: RuntimeRef
    try {
      ref = await runtime.start({ id, template, resources, denyRead: input.filesystem?.denyRead ?? [] })
    } catch (err) {
      // Nothing half-made: the runtime cleans its part, we drop the reservation.
      await runtime.destroy(id).catch((e: unknown) => this.deps.log.warn({ err: e, id }, 'cleanup after failed start'))
      await db.deleteFrom('sandboxes').where('id', '=', id).execute()
      throw err
    }
    await this.#transition(row, 'running', 'created', p.tokenId, { runtime_ref: JSON.stringify(ref) })
    this.#watch(row, ref)
    return this.get(p, id)
  }

  async get(p: Pick<Principal, 'project'>, id: string): Promise<Sandbox> {
    return toSandbox(await this.row(p, id))
  }

  async row(p: Pick<Principal, 'project'>, id: string): Promise<SandboxRow> {
    const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).where('project', '=', p.project).executeTakeFirst()
    // A foreign sandbox is indistinguishable from a missing one.
    if (!row) throw notFound('sandbox', id)
    return row
  }

  async list(p: Principal, q: { state?: SandboxState | undefined; metadata?: Record<string, string> | undefined; limit: number; nextToken?: string | undefined }) {
    const after = decodeCursor(q.nextToken)
    const filters = Object.entries(q.metadata ?? {})
    const items: Sandbox[] = []
    let cursor = after
    // Metadata is a JSON column: filter in code, scanning keyset pages until the page is full.
    for (;;) {
      let query = this.deps.db.selectFrom('sandboxes').selectAll().where('project', '=', p.project).orderBy('id').limit(500)
      query = q.state ? query.where('state', '=', q.state) : query.where('state', 'in', live)
      if (cursor) query = query.where('id', '>', cursor)
      const rows = await query.execute()
      for (const row of rows) {
        const meta = JSON.parse(row.metadata) as Record<string, string>
        if (filters.every(([k, v]) => meta[k] === v)) items.push(toSandbox(row))
        if (items.length > q.limit) break
      }
      if (items.length > q.limit || rows.length < 500) break
      cursor = rows[rows.length - 1]!.id
    }
    if (items.length <= q.limit) return { items }
    const page = items.slice(0, q.limit)
    return { items: page, nextToken: encodeCursor(page[page.length - 1]!.id) }
  }

  async patch(p: Principal, id: string, input: { timeoutMs?: number | undefined; metadata?: Record<string, string> | undefined; resources?: Partial<ResourceLimits> | undefined }): Promise<Sandbox> {
    return this.#lock.run(id, async () => {
      const row = await this.row(p, id)
      this.#mustBeLive(row, 'patch')
      const set: Partial<SandboxRow> = {}
      if (input.timeoutMs !== undefined) {
        set.timeout_ms = input.timeoutMs
        set.expires_at = iso(this.deps.clock.now() + input.timeoutMs)
      }
      if (input.metadata) set.metadata = JSON.stringify(input.metadata)
      if (input.resources) {
        const current = JSON.parse(row.resources) as ResourceLimits
        const next = { ...current, ...input.resources }
        this.#checkCpu(next.cpu)
        await this.#lock.run(`project:${p.project}`, async () => {
          const used = await this.usage(p.project)
          checkQuota(this.deps.config, p.project, used, { sandboxes: 0, memoryMb: next.memoryMb - current.memoryMb, cpu: next.cpu - current.cpu, pids: next.pids - current.pids }, await this.#soonestExpiryS(p.project))
          await this.deps.runtime.resize(refOf(row), next)
          set.resources = JSON.stringify(next)
        })
        await this.deps.events.emit({ project: row.project, sandboxId: id, kind: 'resized', actor: p.tokenId, data: { from: current, to: next } })
      }
      set.updated_at = iso(this.deps.clock.now())
      await this.deps.db.updateTable('sandboxes').set(set).where('id', '=', id).execute()
      return this.get(p, id)
    })
  }

  /** Idempotent: destroying a stopped sandbox succeeds and changes nothing. */
  async destroy(p: Pick<Principal, 'project'> & { tokenId: string }, id: string, reason = 'killed'): Promise<void> {
    await this.#lock.run(id, async () => {
      const row = await this.row(p, id)
      if (row.state === 'stopped') return
      await this.deps.runtime.destroy(id, row.runtime_ref ? refOf(row) : undefined)
      await this.#transition(row, 'stopped', reason, p.tokenId)
    })
  }

  async pause(p: Principal, id: string, reason = 'paused'): Promise<Sandbox> {
    await this.#lock.run(id, async () => {
      const row = await this.row(p, id)
      this.#mustBeLive(row, 'pause')
      if (row.state === 'paused') return
      await this.deps.runtime.pause(refOf(row))
      await this.#transition(row, 'paused', reason, p.tokenId)
    })
    return this.get(p, id)
  }

  async resume(p: Pick<Principal, 'project' | 'tokenId'>, id: string, reason = 'resumed'): Promise<Sandbox> {
    await this.#lock.run(id, async () => {
      const row = await this.row(p, id)
      this.#mustBeLive(row, 'resume')
      if (row.state === 'running') return
      await this.deps.runtime.resume(refOf(row))
      // A resumed sandbox gets a fresh TTL, so an auto-resume never lands on an already-expired clock.
      await this.#transition(row, 'running', reason, p.tokenId, { expires_at: iso(this.deps.clock.now() + Number(row.timeout_ms)) })
    })
    return this.get(p, id)
  }

  /** For exec and files: the sandbox must be running; a paused one resumes when its lifecycle says autoResume. */
  async live(p: Pick<Principal, 'project' | 'tokenId'>, id: string): Promise<LiveSandbox> {
    let row = await this.row(p, id)
    if (row.state === 'paused') {
      const lifecycle = JSON.parse(row.lifecycle) as { autoResume: boolean }
      if (!lifecycle.autoResume) {
        throw new AppError('conflict', `sandbox ${id} is paused; resume it first (POST /v1/sandboxes/${id}/resume) or create it with lifecycle.autoResume`)
      }
      await this.resume(p, id, 'auto_resumed')
      row = await this.row(p, id)
    }
    if (row.state !== 'running') {
      if (row.reason === 'lost') throw await this.#lostError(row)
      throw new AppError('conflict', `sandbox ${id} is ${row.state} (${row.reason}); create a new one`)
    }
    return { row, ref: refOf(row), envs: JSON.parse(row.envs) as Record<string, string> }
  }

  /**
   * A runtime call failed on a sandbox the store thinks is live: when the runtime says it is gone, it is
   * marked lost now (the watcher may not have told us yet) and the caller gets that, not a generic error.
   */
  async explainLost(p: Pick<Principal, 'project'>, id: string, err: unknown): Promise<unknown> {
    const code = (err as { code?: string } | undefined)?.code
    if (code !== 'not_found' && code !== 'conflict' && code !== 'internal') return err
    const row = await this.row(p, id).catch(() => undefined)
    if (!row || !row.runtime_ref || (row.state !== 'running' && row.state !== 'paused')) return err
    if ((await this.deps.runtime.inspect(refOf(row)).catch(() => 'gone')) !== 'gone') return err
    await this.#markLost(id, 'its init or supervisor exited')
    const now = await this.row(p, id)
    return now.reason === 'lost' ? await this.#lostError(now) : err
  }

  /** Watches a live sandbox: when it dies under us it is marked stopped (lost) at once. */
  #watch(row: SandboxRow, ref: RuntimeRef): void {
    this.deps.runtime.watch(ref, (detail) => {
      this.#markLost(row.id, detail).catch((err: unknown) => this.deps.log.error({ err, id: row.id }, 'could not mark a lost sandbox stopped'))
    })
  }

  async #markLost(id: string, detail: string): Promise<void> {
    await this.#lock.run(id, async () => {
      const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst()
      if (!row || !live.includes(row.state as SandboxState) || row.state === 'starting') return
      // What is left of it (init without supervisor, cgroups, its directory) goes; a failure is logged.
      await this.deps.runtime.destroy(id, row.runtime_ref ? refOf(row) : undefined).catch((err: unknown) => this.deps.log.warn({ err, id }, 'cleanup of a lost sandbox failed'))
      await this.#asSystem(systemActors.watch, row, 'destroySandbox', { reason: 'lost', detail }, () => this.#transition(row, 'stopped', 'lost', systemActors.watch, {}, { detail }))
      this.deps.log.warn({ id, detail }, 'sandbox lost: marked stopped')
    })
  }

  /** "sandbox … was lost: <what happened>; create a new one" (what happened is in its last state change). */
  async #lostError(row: SandboxRow): Promise<AppError> {
    const last = await this.deps.db
      .selectFrom('events')
      .select('data')
      .where('sandbox_id', '=', row.id)
      .where('kind', '=', 'state_changed')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    const detail = (JSON.parse(last?.data ?? '{}') as { detail?: unknown }).detail
    return new AppError('conflict', `sandbox ${row.id} was lost: ${typeof detail === 'string' ? detail : 'its init or supervisor exited'}; create a new one`)
  }

  async metrics(p: Principal, id: string): Promise<SandboxMetrics> {
    const row = await this.row(p, id)
    if (row.reason === 'lost') throw await this.#lostError(row)
    this.#mustBeLive(row, 'read metrics of')
    const s = await this.deps.runtime.stats(refOf(row)).catch(async (err: unknown) => {
      throw await this.explainLost(p, id, err)
    })
    return { at: iso(this.deps.clock.now()), ...s }
  }

  async usage(project: string): Promise<Usage> {
    const rows = await this.deps.db.selectFrom('sandboxes').select(['resources']).where('project', '=', project).where('state', 'in', live).execute()
    const used: Usage = { sandboxes: rows.length, memoryMb: 0, cpu: 0, pids: 0 }
    for (const r of rows) {
      const res = JSON.parse(r.resources) as ResourceLimits
      used.memoryMb += res.memoryMb
      used.cpu += res.cpu
      used.pids += res.pids
    }
    return used
  }

  /** The reaper: acts on every expired sandbox (kill or pause per lifecycle). Safe to call any time, also right after a restart. */
  async reapExpired(): Promise<number> {
    const now = iso(this.deps.clock.now())
    const rows = await this.deps.db.selectFrom('sandboxes').selectAll().where('state', 'in', ['running', 'paused']).where('expires_at', '<=', now).execute()
    let acted = 0
    for (const row of rows) {
      const lifecycle = JSON.parse(row.lifecycle) as { onTimeout: 'kill' | 'pause' }
      const system = { project: row.project, tokenId: systemActors.reaper, name: 'reaper', scopes: [] }
      try {
        if (lifecycle.onTimeout === 'pause') {
          if (row.state === 'running') {
            await this.#asSystem(systemActors.reaper, row, 'pauseSandbox', { reason: 'timeout', expiresAt: row.expires_at }, () => this.pause(system, row.id, 'timeout'))
            acted++
          }
        } else {
          await this.#asSystem(systemActors.reaper, row, 'destroySandbox', { reason: 'timeout', expiresAt: row.expires_at }, () => this.destroy(system, row.id, 'timeout'))
          acted++
        }
      } catch (err) {
        this.deps.log.error({ err, id: row.id }, 'reaper could not act on an expired sandbox; will retry')
      }
    }
    return acted
  }

  /**
   * Retention: deletes sandboxes that stopped more than `retention.stoppedSandboxesHours` ago, with their
   * events, a batch at a time (the audit log keeps every record). Returns how many went.
   */
  async pruneStopped(batch = 500): Promise<number> {
    const hours = this.deps.config.retention.stoppedSandboxesHours
    if (hours <= 0) return 0
    const cutoff = iso(this.deps.clock.now() - hours * 3_600_000)
    return this.deps.db.transaction().execute(async (tx) => {
      const ids = (await tx.selectFrom('sandboxes').select('id').where('state', '=', 'stopped').where('updated_at', '<', cutoff).limit(batch).execute()).map((r) => r.id)
      if (ids.length === 0) return 0
      await tx.deleteFrom('events').where('sandbox_id', 'in', ids).execute()
      await tx.deleteFrom('sandboxes').where('id', 'in', ids).execute()
      return ids.length
    })
  }

  /**
   * After a start (or a crash): adopt sandboxes that still run, mark lost ones stopped, finish interrupted
   * creates, and destroy runtime leftovers the store does not know. Logs each action.
   */
  async reconcile(onAdopted?: (sbx: LiveSandbox) => Promise<unknown>): Promise<{ adopted: number; lost: number; interrupted: number; orphans: number }> {
    const { db, runtime, log } = this.deps
    const result = { adopted: 0, lost: 0, interrupted: 0, orphans: 0 }
    const rows = await db.selectFrom('sandboxes').selectAll().where('state', 'in', live).execute()
    for (const row of rows) {
      if (row.state === 'starting' || !row.runtime_ref) {
        await this.#asSystem(systemActors.reconcile, row, 'destroySandbox', { reason: 'interrupted_create' }, async () => {
          await runtime.destroy(row.id)
          await this.#transition(row, 'stopped', 'interrupted_create', systemActors.reconcile)
        })
        log.warn({ id: row.id }, 'reconcile: cleaned a sandbox whose create was interrupted')
        result.interrupted++
        continue
      }
      const status = await runtime.inspect(refOf(row))
      if (status === 'gone') {
        const detail = 'its init or supervisor exited while the server was down'
        await this.#asSystem(systemActors.reconcile, row, 'destroySandbox', { reason: 'lost', detail }, async () => {
          await runtime.destroy(row.id)
          await this.#transition(row, 'stopped', 'lost', systemActors.reconcile, {}, { detail })
        })
        log.warn({ id: row.id }, 'reconcile: sandbox was gone after restart; marked stopped')
        result.lost++
      } else {
        const state = status === 'paused' ? 'paused' : 'running'
        if (state !== row.state) await this.#asSystem(systemActors.reconcile, row, 'adoptSandbox', { reason: 'adopted', from: row.state, to: state }, () => this.#transition(row, state, 'adopted', systemActors.reconcile))
        log.info({ id: row.id, state }, 'reconcile: adopted running sandbox')
        result.adopted++
        const ref = refOf(row)
        this.#watch(row, ref)
        // Its commands: background ones are listed again, foreground ones (caller gone) are killed.
        if (onAdopted) await onAdopted({ row, ref, envs: JSON.parse(row.envs) as Record<string, string> }).catch((err: unknown) => log.error({ err, id: row.id }, 'reconcile: could not account for the commands of a sandbox'))
      }
    }
    const known = new Set((await db.selectFrom('sandboxes').select('id').where('state', 'in', live).execute()).map((r) => r.id))
    for (const id of await runtime.list()) {
      if (known.has(id)) continue
      await auditedSystemAction(this.deps.audit, log, { actor: systemActors.reconcile, project: '-', action: 'destroySandbox', target: id, data: { id, reason: 'orphan' } }, () => runtime.destroy(id))
      log.warn({ id }, 'reconcile: destroyed an orphaned sandbox the store does not know')
      result.orphans++
    }
    return result
  }

  /** One change by a system actor, audited like an API call (action named after the operation it matches). */
  #asSystem<T>(actor: SystemActor, row: SandboxRow, action: string, data: Record<string, unknown>, act: () => Promise<T>): Promise<T> {
    return auditedSystemAction(this.deps.audit, this.deps.log, { actor, project: row.project, action, target: row.id, data: { id: row.id, ...data } }, act)
  }

  /** Changes the envs every later command of a sandbox gets (a bound clone's DATABASE_URL and PG* variables). */
  async changeEnvs(id: string, change: (envs: Record<string, string>) => Record<string, string>): Promise<void> {
    const { db, clock } = this.deps
    const row = await db.selectFrom('sandboxes').select('envs').where('id', '=', id).executeTakeFirstOrThrow()
    const envs = change(JSON.parse(row.envs) as Record<string, string>)
    await db.updateTable('sandboxes').set({ envs: JSON.stringify(envs), updated_at: iso(clock.now()) }).where('id', '=', id).execute()
  }

  #mustBeLive(row: SandboxRow, verb: string): void {
    if (row.state === 'stopped' && row.reason === 'lost') throw new AppError('conflict', `cannot ${verb} sandbox ${row.id}: it was lost (its init or supervisor exited); create a new one`)
    if (row.state === 'stopped') throw new AppError('conflict', `cannot ${verb} sandbox ${row.id}: it is stopped (${row.reason})`)
    if (row.state === 'starting') throw new AppError('conflict', `cannot ${verb} sandbox ${row.id}: it is still starting; retry shortly`)
  }

  async #transition(row: SandboxRow, state: SandboxState, reason: string, actor: string, extra: Partial<SandboxRow> = {}, data: Record<string, unknown> = {}): Promise<void> {
    await this.deps.db
      .updateTable('sandboxes')
      .set({ state, reason, updated_at: iso(this.deps.clock.now()), ...extra })
      .where('id', '=', row.id)
      .execute()
    await this.deps.events.emit({ project: row.project, sandboxId: row.id, kind: 'state_changed', actor, data: { from: row.state, to: state, reason, ...data } })
  }

  /** A sandbox gets at most the host's cores, at create and at resize alike. */
  #checkCpu(cpu: number): void {
    if (cpu <= this.#hostCpus) return
    throw new AppError('invalid_request', `resources.cpu must be at most ${this.#hostCpus} (the host's cores) (got ${cpu})`, [
      { path: 'resources.cpu', message: `at most ${this.#hostCpus}` },
    ])
  }

  async #soonestExpiryS(project: string): Promise<number> {
    const row = await this.deps.db.selectFrom('sandboxes').select('expires_at').where('project', '=', project).where('state', 'in', live).orderBy('expires_at').limit(1).executeTakeFirst()
    return row ? (Date.parse(row.expires_at) - this.deps.clock.now()) / 1000 : 1
  }
}
