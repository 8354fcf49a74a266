/** @module sandboxes/reconcile — after a start (or a crash): the store and the runtime brought back into agreement. */
import { auditedSystemAction, systemActors } from '../audit/system-actor.js'
import { live, liveOf, refOf, type LiveSandbox } from './sandbox-row.js'
import type { SandboxDeps, SandboxStates } from './sandbox-states.js'

export interface ReconcileResult {
  adopted: number
  lost: number
  interrupted: number
  orphans: number
}

/**
 * Adopts sandboxes that still run, marks lost ones stopped, finishes interrupted creates, and destroys
 * runtime leftovers the store does not know. Logs each action.
 */
export async function reconcileSandboxes(deps: SandboxDeps, states: SandboxStates, onAdopted?: (sbx: LiveSandbox) => Promise<unknown>): Promise<ReconcileResult> {
  const { db, runtime, log } = deps
  const result = { adopted: 0, lost: 0, interrupted: 0, orphans: 0 }
  const rows = await db.selectFrom('sandboxes').selectAll().where('state', 'in', live).execute()
  for (const row of rows) {
    if (row.state === 'starting' || !row.runtime_ref) {
      await states.asSystem(systemActors.reconcile, row, 'destroySandbox', { reason: 'interrupted_create' }, async () => {
        await runtime.destroy(row.id)
        await states.transition(row, 'stopped', 'interrupted_create', systemActors.reconcile)
      })
      log.warn({ id: row.id }, 'reconcile: cleaned a sandbox whose create was interrupted')
      result.interrupted++
      continue
    }
    const status = await runtime.inspect(refOf(row))
    if (status === 'gone') {
      const detail = 'its init or supervisor exited while the server was down'
      await states.asSystem(systemActors.reconcile, row, 'destroySandbox', { reason: 'lost', detail }, async () => {
        await runtime.destroy(row.id)
        await states.transition(row, 'stopped', 'lost', systemActors.reconcile, {}, { detail })
      })
      log.warn({ id: row.id }, 'reconcile: sandbox was gone after restart; marked stopped')
      result.lost++
    } else {
      const state = status === 'paused' ? 'paused' : 'running'
      if (state !== row.state)
        await states.asSystem(systemActors.reconcile, row, 'adoptSandbox', { reason: 'adopted', from: row.state, to: state }, () => states.transition(row, state, 'adopted', systemActors.reconcile))
      log.info({ id: row.id, state }, 'reconcile: adopted running sandbox')
      result.adopted++
      const ref = refOf(row)
      states.watch(row, ref)
      // Its commands: background ones are listed again, foreground ones (caller gone) are killed.
      if (onAdopted) await onAdopted(liveOf(row)).catch((err: unknown) => log.error({ err, id: row.id }, 'reconcile: could not account for the commands of a sandbox'))
    }
  }
  const known = new Set((await db.selectFrom('sandboxes').select('id').where('state', 'in', live).execute()).map((r) => r.id))
  for (const id of await runtime.list()) {
    if (known.has(id)) continue
    await auditedSystemAction(deps.audit, log, { actor: systemActors.reconcile, project: '-', action: 'destroySandbox', target: id, data: { id, reason: 'orphan' } }, () => runtime.destroy(id))
    log.warn({ id }, 'reconcile: destroyed an orphaned sandbox the store does not know')
    result.orphans++
  }
  return result
}
