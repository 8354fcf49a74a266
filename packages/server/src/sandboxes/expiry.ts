/** @module sandboxes/expiry — the TTL reaper (kill or pause per lifecycle) and retention of stopped sandboxes. */
import { systemActors } from '../audit/system-actor.js'
import { iso } from '../core/clock.js'
import type { SandboxDeps, SandboxStates } from './sandbox-states.js'

/** The two service calls the reaper makes, as the reaper principal. */
interface Reapable {
  pause(p: { project: string; tokenId: string; name: string; scopes: never[] }, id: string, reason: string): Promise<unknown>
  destroy(p: { project: string; tokenId: string }, id: string, reason: string): Promise<void>
}

/** Acts on every expired sandbox (kill or pause per lifecycle). Safe to call any time, also right after a restart. */
export async function reapExpired(deps: SandboxDeps, states: SandboxStates, service: Reapable): Promise<number> {
  const now = iso(deps.clock.now())
  const rows = await deps.db.selectFrom('sandboxes').selectAll().where('state', 'in', ['running', 'paused']).where('expires_at', '<=', now).execute()
  let acted = 0
  for (const row of rows) {
    const lifecycle = JSON.parse(row.lifecycle) as { onTimeout: 'kill' | 'pause' }
    const system = { project: row.project, tokenId: systemActors.reaper, name: 'reaper', scopes: [] }
    try {
      if (lifecycle.onTimeout === 'pause') {
        if (row.state === 'running') {
          await states.asSystem(systemActors.reaper, row, 'pauseSandbox', { reason: 'timeout', expiresAt: row.expires_at }, () => service.pause(system, row.id, 'timeout'))
          acted++
        }
      } else {
        await states.asSystem(systemActors.reaper, row, 'destroySandbox', { reason: 'timeout', expiresAt: row.expires_at }, () => service.destroy(system, row.id, 'timeout'))
        acted++
      }
    } catch (err) {
      deps.log.error({ err, id: row.id }, 'reaper could not act on an expired sandbox; will retry')
    }
  }
  return acted
}

/**
 * Retention: deletes sandboxes that stopped more than `retention.stoppedSandboxesHours` ago, with their
 * events, a batch at a time (the audit log keeps every record). Returns how many went.
 */
export async function pruneStopped(deps: SandboxDeps, batch: number): Promise<number> {
  const hours = deps.config.retention.stoppedSandboxesHours
  if (hours <= 0) return 0
  const cutoff = iso(deps.clock.now() - hours * 3_600_000)
  return deps.db.transaction().execute(async (tx) => {
    const ids = (await tx.selectFrom('sandboxes').select('id').where('state', '=', 'stopped').where('updated_at', '<', cutoff).limit(batch).execute()).map((r) => r.id)
    if (ids.length === 0) return 0
    await tx.deleteFrom('events').where('sandbox_id', 'in', ids).execute()
    await tx.deleteFrom('sandboxes').where('id', 'in', ids).execute()
    return ids.length
  })
}
