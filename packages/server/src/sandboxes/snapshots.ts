/** @module sandboxes/snapshots — snapshots of a sandbox's files: create (crash-safe), list, get, delete, retention, reconcile. */
import type { Principal, SnapshotInfo as Snapshot } from '@tidepool/sdk'
import { systemActors } from '../audit/system-actor.js'
import { iso } from '../core/clock.js'
import { AppError, notFound, quotaExceeded } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { filteredPageOf, hasAll } from '../kit/page.js'
import type { RuntimeSnapshots } from '../runtime/runtime.js'
import type { SnapshotRow } from '../store/schema.js'
import { live, refOf } from './sandbox-row.js'
import type { SandboxDeps, SandboxStates } from './sandbox-states.js'
import { isPinned, toSnapshot } from './snapshot-row.js'

type Caller = Pick<Principal, 'project' | 'tokenId'>

export interface TakeSnapshot {
  labels?: Record<string, string> | undefined
  ttlMs?: number | undefined
  /** The fork point of a fork: retention deletes it once no live sandbox started from it. */
  forkPoint?: boolean
}

/** The lock key that orders a create-from-snapshot (its insert) against a delete of that snapshot. */
export const snapshotLockKey = (id: string) => `snapshot:${id}`

export class SnapshotService {
  /** Sandboxes whose next failing exec is snapshotted (armed by the feedback loop): sandbox id → why (a test id). */
  readonly #armed = new Map<string, string>()

  constructor(
    private readonly deps: SandboxDeps,
    private readonly states: SandboxStates,
  ) {}

  /**
   * The executor of insights' "snapshot on next failure": the next failing exec in this sandbox is
   * snapshotted (once). In memory: a restart disarms, and the next reported failure arms again.
   */
  arm(sandboxId: string, reason: string): void {
    this.#armed.set(sandboxId, reason)
  }

  /** Disarms and returns the reason when the sandbox was armed. */
  takeArmed(sandboxId: string): string | undefined {
    const reason = this.#armed.get(sandboxId)
    this.#armed.delete(sandboxId)
    return reason
  }

  /** The runtime's snapshots, or a clear refusal naming the runtime that has none. */
  runtimeSnapshots(what = 'snapshots'): RuntimeSnapshots {
    const s = this.deps.runtime.snapshots
    if (!s)
      throw new AppError(
        'invalid_request',
        `${what} are not supported by the ${this.deps.runtime.kind} runtime (it cannot capture a sandbox's files); use a runtime with snapshots (the local runtime on a btrfs, reflink or copy pool)`,
      )
    return s
  }

  /**
   * Captures a running or paused sandbox. The row is written `creating` before the runtime call and
   * `ready` after it, so a crash in between is settled by reconcile (a complete snapshot or none).
   */
  async create(p: Caller, sandboxId: string, input: TakeSnapshot): Promise<Snapshot> {
    const { db, config, clock } = this.deps
    const snapshots = this.runtimeSnapshots()
    const id = newId('snap', 16)
    const row = await this.states.lock.run(sandboxId, async () => {
      const sbx = await db.selectFrom('sandboxes').selectAll().where('id', '=', sandboxId).where('project', '=', p.project).executeTakeFirst()
      if (!sbx) throw notFound('sandbox', sandboxId)
      this.states.mustBeLive(sbx, 'snapshot')
      const now = clock.now()
      const ttl = input.ttlMs ?? (config.snapshots.defaultTtlMs || undefined)
      const row: SnapshotRow = {
        id,
        project: p.project,
        sandbox_id: sandboxId,
        parent: sbx.parent_snapshot ?? null,
        template: sbx.template,
        template_ref: sbx.template_ref ?? null,
        state: 'creating',
        size_bytes: 0,
        exclusive_bytes: 0,
        labels: JSON.stringify(input.labels ?? {}),
        created_by: p.tokenId,
        created_at: iso(now),
        expires_at: ttl ? iso(now + ttl) : null,
        fork_point: input.forkPoint ? 1 : 0,
      }
      await this.states.lock.run(`project:${p.project}`, async () => {
        const used = Number(
          (
            await db
              .selectFrom('snapshots')
              .select((e) => e.fn.countAll().as('n'))
              .where('project', '=', p.project)
              .executeTakeFirstOrThrow()
          ).n,
        )
        const limit = config.snapshots.maxPerProject
        if (used + 1 > limit) {
          throw quotaExceeded(`project ${p.project} would exceed its snapshot quota: limit ${limit}, in use ${used}, requested 1; delete snapshots or ask an admin to raise snapshots.maxPerProject`, {
            scope: `project:${p.project}:snapshots`,
            limit,
            used,
            requested: 1,
            retryAfter: 1,
          })
        }
        await db.insertInto('snapshots').values(row).execute()
      })
      try {
        const ref = await snapshots.create(refOf(sbx), id)
        await db.updateTable('snapshots').set({ state: 'ready', size_bytes: ref.bytes, exclusive_bytes: ref.exclusiveBytes }).where('id', '=', id).execute()
        return { ...row, state: 'ready' as const, size_bytes: ref.bytes, exclusive_bytes: ref.exclusiveBytes }
      } catch (err) {
        // The runtime leaves nothing behind when it fails; the row goes too.
        await db.deleteFrom('snapshots').where('id', '=', id).execute()
        throw err
      }
    })
    await this.deps.events.emit({ project: p.project, sandboxId, kind: 'snapshot_created', actor: p.tokenId, data: { snapshotId: id, sizeBytes: row.size_bytes } })
    await this.#keepCount(p.project, sandboxId)
    return toSnapshot(row)
  }

  /** A ready snapshot of the project (a foreign or half-made one is indistinguishable from a missing one). */
  async row(p: Pick<Principal, 'project'>, id: string): Promise<SnapshotRow> {
    const row = await this.deps.db.selectFrom('snapshots').selectAll().where('id', '=', id).where('project', '=', p.project).where('state', '=', 'ready').executeTakeFirst()
    if (!row) throw notFound('snapshot', id)
    return row
  }

  async get(p: Pick<Principal, 'project'>, id: string): Promise<Snapshot> {
    return toSnapshot(await this.row(p, id))
  }

  async list(p: Pick<Principal, 'project'>, q: { sandboxId?: string | undefined; labels?: Record<string, string> | undefined; limit: number; nextToken?: string | undefined }) {
    const filters = Object.entries(q.labels ?? {})
    // Labels are a JSON column: filtered in code over keyset pages.
    return filteredPageOf({
      nextToken: q.nextToken,
      limit: q.limit,
      fetch: (after, n) => {
        let query = this.deps.db.selectFrom('snapshots').selectAll().where('project', '=', p.project).where('state', '=', 'ready').orderBy('id').limit(n)
        if (q.sandboxId) query = query.where('sandbox_id', '=', q.sandboxId)
        return (after ? query.where('id', '>', after) : query).execute()
      },
      keep: (row) => hasAll(row.labels, filters),
      view: toSnapshot,
    })
  }

  /** From now on retention deletes the snapshot once no live sandbox started from it. */
  async markForkPoint(id: string): Promise<void> {
    await this.deps.db.updateTable('snapshots').set({ fork_point: 1 }).where('id', '=', id).execute()
  }

  /** Live sandboxes that started from the snapshot (a delete is refused while there are any). */
  async users(id: string): Promise<string[]> {
    return (await this.deps.db.selectFrom('sandboxes').select('id').where('parent_snapshot', '=', id).where('state', 'in', live).orderBy('id').limit(20).execute()).map((r) => r.id)
  }

  /** Idempotent: a missing snapshot is fine. Refused (conflict) while a live sandbox started from it. */
  async delete(p: Pick<Principal, 'project'>, id: string): Promise<void> {
    await this.states.lock.run(snapshotLockKey(id), async () => {
      const row = await this.deps.db.selectFrom('snapshots').selectAll().where('id', '=', id).where('project', '=', p.project).where('state', '=', 'ready').executeTakeFirst()
      if (!row) return
      const users = await this.users(id)
      if (users.length > 0) {
        throw new AppError(
          'conflict',
          `snapshot ${id} is in use: live sandbox${users.length > 1 ? 'es' : ''} ${users.join(', ')} started from it; destroy ${users.length > 1 ? 'them' : 'it'} first (DELETE /v1/sandboxes/{id})`,
          [{ path: 'id', message: `in use by ${users.join(', ')}` }],
        )
      }
      await this.runtimeSnapshots().delete(id)
      await this.deps.db.deleteFrom('snapshots').where('id', '=', id).execute()
    })
  }

  /** Count retention: past snapshots.maxPerSandbox, the oldest unpinned, unused snapshots of the sandbox go. */
  async #keepCount(project: string, sandboxId: string): Promise<void> {
    const rows = await this.deps.db.selectFrom('snapshots').selectAll().where('sandbox_id', '=', sandboxId).where('state', '=', 'ready').orderBy('created_at', 'desc').orderBy('id', 'desc').execute()
    const over = rows.slice(this.deps.config.snapshots.maxPerSandbox).reverse()
    for (const row of over) {
      if (isPinned(row) || (await this.users(row.id)).length > 0) continue
      await this.#deleteAsSystem(row, 'count', () => this.delete({ project }, row.id))
    }
  }

  /** TTL retention and fork points nobody uses any more; run by the reaper. Returns how many went. */
  async reapExpired(): Promise<number> {
    const { db, clock, log } = this.deps
    const now = iso(clock.now())
    const rows = await db
      .selectFrom('snapshots')
      .selectAll()
      .where('state', '=', 'ready')
      .where((e) => e.or([e.and([e('expires_at', 'is not', null), e('expires_at', '<=', now)]), e('fork_point', '=', 1)]))
      // One a live sandbox started from waits until that sandbox ends (one query, however many forks run).
      .where((e) => e.not(e.exists(e.selectFrom('sandboxes').select('sandboxes.id').whereRef('sandboxes.parent_snapshot', '=', 'snapshots.id').where('sandboxes.state', 'in', live))))
      .limit(500)
      .execute()
    let deleted = 0
    for (const row of rows) {
      try {
        await this.#deleteAsSystem(row, row.fork_point ? 'fork_point_unused' : 'ttl', () => this.delete({ project: row.project }, row.id))
        deleted++
      } catch (err) {
        log.error({ err, id: row.id }, 'retention could not delete a snapshot; will retry')
      }
    }
    return deleted
  }

  #deleteAsSystem(row: SnapshotRow, reason: string, act: () => Promise<void>): Promise<void> {
    return this.states.asSystem(systemActors.reaper, row, 'deleteSnapshot', { reason, sandboxId: row.sandbox_id, ...(row.expires_at ? { expiresAt: row.expires_at } : {}) }, act)
  }

  /**
   * After a start (or a crash): a `creating` row whose capture the runtime has becomes ready (complete);
   * one it lacks goes (none). Runtime snapshots with no row are deleted. Each action audited.
   */
  async reconcile(): Promise<{ completed: number; dropped: number; orphans: number }> {
    const { db, runtime, log } = this.deps
    const result = { completed: 0, dropped: 0, orphans: 0 }
    const snapshots = runtime.snapshots
    if (!snapshots) return result
    for (const row of await db.selectFrom('snapshots').selectAll().where('state', '=', 'creating').execute()) {
      const ref = await snapshots.get(row.id)
      if (ref) {
        await this.states.asSystem(systemActors.reconcile, row, 'createSnapshot', { reason: 'interrupted_snapshot', outcome: 'completed' }, () =>
          db.updateTable('snapshots').set({ state: 'ready', size_bytes: ref.bytes, exclusive_bytes: ref.exclusiveBytes }).where('id', '=', row.id).execute(),
        )
        result.completed++
      } else {
        await this.states.asSystem(systemActors.reconcile, row, 'deleteSnapshot', { reason: 'interrupted_snapshot' }, () => db.deleteFrom('snapshots').where('id', '=', row.id).execute())
        result.dropped++
      }
      log.warn({ id: row.id, completed: Boolean(ref) }, 'reconcile: settled a snapshot whose create was interrupted')
    }
    const known = new Set((await db.selectFrom('snapshots').select('id').execute()).map((r) => r.id))
    for (const id of await snapshots.list()) {
      if (known.has(id)) continue
      await this.states.asSystem(systemActors.reconcile, { id, project: '-' }, 'deleteSnapshot', { reason: 'orphan' }, () => snapshots.delete(id))
      log.warn({ id }, 'reconcile: deleted a runtime snapshot the store does not know')
      result.orphans++
    }
    return result
  }
}
