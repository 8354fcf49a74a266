/**
 * @module audit/system-actor — the principals tidepool itself acts as, one spelling each, and how their
 * changes reach the audit log: the same `AuditLog.append` record `dispatch` writes for an API call.
 */
import { codeOf } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { AuditEntry } from './audit-log.js'

export const systemActors = {
  /** The TTL reaper: kills or pauses sandboxes whose timeout passed. */
  reaper: 'system:reaper',
  /** Start-up reconcile: adopts, marks lost, finishes interrupted creates, kills commands whose caller is gone. */
  reconcile: 'system:reconcile',
  /** The watch on a live sandbox: marks it stopped (lost) when its init or supervisor dies. */
  watch: 'system:watch',
  /** Insights remediation: decisions and the changes they make (e.g. a resize, and its revert). */
  remediation: 'system:remediation',
  /** Insights' A/B experiment: assigns each new run to the suggest or the auto arm. */
  abAssign: 'system:ab-assign',
  /** The data area's reaper of expired clones. */
  dataReaper: 'system:data-reaper',
} as const

export type SystemActor = (typeof systemActors)[keyof typeof systemActors]

/**
 * Whether a remediation was decided by tidepool itself rather than a person. Bodies stored before the
 * system actors had one spelling say 'insights'; they still count as automatic.
 */
export function decidedAutomatically(decidedBy: string | undefined): boolean {
  return decidedBy === systemActors.remediation || decidedBy === 'insights'
}

export interface SystemAudit {
  append(entry: AuditEntry): Promise<unknown>
}

/**
 * Runs one change a system actor makes and writes its audit record whatever the outcome (as dispatch
 * does in its `finally`). A failed append is logged and does not undo the change.
 */
export async function auditedSystemAction<T>(audit: SystemAudit, log: Logger, entry: Omit<AuditEntry, 'outcome'> & { actor: SystemActor }, act: () => Promise<T>): Promise<T> {
  let outcome = 'internal'
  try {
    const result = await act()
    outcome = 'ok'
    return result
  } catch (err) {
    outcome = codeOf(err)
    throw err
  } finally {
    await audit.append({ ...entry, outcome }).catch((err: unknown) => log.error({ err, action: entry.action, target: entry.target }, 'audit record of a system action not written'))
  }
}
