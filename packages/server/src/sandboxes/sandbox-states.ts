/** @module sandboxes/sandbox-states — state transitions of a sandbox row (with their event), the per-sandbox lock, and losing a sandbox. */
import type { SandboxState } from '@tidepool/sdk'
import { auditedSystemAction, systemActors, type SystemActor, type SystemAudit } from '../audit/system-actor.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import { KeyedMutex } from '../core/mutex.js'
import type { EventLog } from '../kit/events.js'
import type { Runtime, RuntimeRef } from '../runtime/runtime.js'
import type { Db } from '../store/db.js'
import type { SandboxRow } from '../store/schema.js'
import { live, refOf } from './sandbox-row.js'

/** What the sandbox services are built from. `audit` records what system actors (reaper, reconcile, watch) change; API calls are audited by dispatch. */
export interface SandboxDeps {
  db: Db
  runtime: Runtime
  config: Config
  clock: Clock
  log: Logger
  events: EventLog
  audit: SystemAudit
}

/** Shared by the sandbox service and its parts (expiry, reconcile, snapshots, reset): one lock, one way to change state. */
export class SandboxStates {
  /** Keys: a sandbox id (its changes), or `project:<id>` (a quota check and the insert it allows). */
  readonly lock = new KeyedMutex()

  constructor(private readonly deps: SandboxDeps) {}

  async transition(row: SandboxRow, state: SandboxState, reason: string, actor: string, extra: Partial<SandboxRow> = {}, data: Record<string, unknown> = {}): Promise<void> {
    await this.deps.db
      .updateTable('sandboxes')
      .set({ state, reason, updated_at: iso(this.deps.clock.now()), ...extra })
      .where('id', '=', row.id)
      .execute()
    await this.deps.events.emit({ project: row.project, sandboxId: row.id, kind: 'state_changed', actor, data: { from: row.state, to: state, reason, ...data } })
  }

  /** One change by a system actor, audited like an API call (action named after the operation it matches). */
  asSystem<T>(actor: SystemActor, row: Pick<SandboxRow, 'id' | 'project'>, action: string, data: Record<string, unknown>, act: () => Promise<T>): Promise<T> {
    return auditedSystemAction(this.deps.audit, this.deps.log, { actor, project: row.project, action, target: row.id, data: { id: row.id, ...data } }, act)
  }

  mustBeLive(row: SandboxRow, verb: string): void {
    if (row.state === 'stopped' && row.reason === 'lost') throw new AppError('conflict', `cannot ${verb} sandbox ${row.id}: it was lost (its init or supervisor exited); create a new one`)
    if (row.state === 'stopped') throw new AppError('conflict', `cannot ${verb} sandbox ${row.id}: it is stopped (${row.reason})`)
    if (row.state === 'starting') throw new AppError('conflict', `cannot ${verb} sandbox ${row.id}: it is still starting; retry shortly`)
  }

  /** Watches a live sandbox: when it dies under us it is marked stopped (lost) at once. */
  watch(row: SandboxRow, ref: RuntimeRef): void {
    this.deps.runtime.watch(ref, (detail) => {
      this.markLost(row.id, detail, ref).catch((err: unknown) => this.deps.log.error({ err, id: row.id }, 'could not mark a lost sandbox stopped'))
    })
  }

  /** `ref`: the runtime instance that died; a sandbox reset since runs another one and is left alone. */
  async markLost(id: string, detail: string, ref?: RuntimeRef): Promise<void> {
    await this.lock.run(id, async () => {
      const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst()
      if (!row || !live.includes(row.state as SandboxState) || row.state === 'starting') return
      if (ref && row.runtime_ref && !sameRef(JSON.parse(row.runtime_ref) as RuntimeRef, ref)) return
      // What is left of it (init without supervisor, cgroups, its directory) goes; a failure is logged.
      await this.deps.runtime.destroy(id, row.runtime_ref ? refOf(row) : undefined).catch((err: unknown) => this.deps.log.warn({ err, id }, 'cleanup of a lost sandbox failed'))
      await this.asSystem(systemActors.watch, row, 'destroySandbox', { reason: 'lost', detail }, () => this.transition(row, 'stopped', 'lost', systemActors.watch, {}, { detail }))
      this.deps.log.warn({ id, detail }, 'sandbox lost: marked stopped')
    })
  }

  /** "sandbox … was lost: <what happened>; create a new one" (what happened is in its last state change). */
  async lostError(row: SandboxRow): Promise<AppError> {
    const last = await this.deps.db.selectFrom('events').select('data').where('sandbox_id', '=', row.id).where('kind', '=', 'state_changed').orderBy('seq', 'desc').limit(1).executeTakeFirst()
    const detail = (JSON.parse(last?.data ?? '{}') as { detail?: unknown }).detail
    return new AppError('conflict', `sandbox ${row.id} was lost: ${typeof detail === 'string' ? detail : 'its init or supervisor exited'}; create a new one`)
  }
}

const sameRef = (a: RuntimeRef, b: RuntimeRef) => a.pid === b.pid && a.startTime === b.startTime
