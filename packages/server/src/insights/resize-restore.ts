/** @module insights/resize-restore — a resize is for the run after the starved one: when that run ends, the sandbox goes back down. */
import type { Remediation } from '@tidepool/sdk'
import { systemActors } from '../audit/system-actor.js'
import type { RemediationActions } from './actions.js'
import type { InsightsEnv } from './deps.js'
import { saveRemediation } from './queries.js'
import { auditRollback } from './remediation.js'

interface Restored {
  at: string
  /** The run whose end brought it back down, or `ttl`. */
  afterRun: string
  ok: boolean
  detail: string
}

/**
 * Every applied resize of `sandboxId` decided for an earlier run is taken back down to its previous size
 * now that `runId` (the next run in that sandbox) has ended, and the cgroup is read to check it. The
 * remediation stays `applied` (it was not wrong: it lasted its run) with `result.restored`; a restore that
 * fails is recorded and tried again at the next run's end. Each restore has its own audit record
 * (insights.remediation.restore).
 */
export async function restoreResizesAfterRun(env: InsightsEnv, actions: RemediationActions, project: string, runId: string, sandboxId: string | undefined): Promise<Remediation[]> {
  if (!sandboxId) return []
  return restore(env, actions, project, runId, (rem) => rem.params.sandboxId === sandboxId && rem.runId !== runId)
}

/**
 * The TTL: resizes applied more than `remediation.resizeRestoreMinutes` ago that no run's end has taken
 * back down yet go back now (the reaper's tick calls it), in every project.
 */
export async function restoreDueResizes(env: InsightsEnv, actions: RemediationActions): Promise<Remediation[]> {
  const due = env.clock.now() - env.cfg.remediation.resizeRestoreMinutes * 60_000
  return restore(env, actions, undefined, 'ttl', (rem) => Date.parse(rem.decidedAt ?? rem.createdAt) <= due)
}

async function restore(env: InsightsEnv, actions: RemediationActions, project: string | undefined, afterRun: string, pick: (rem: Remediation) => boolean): Promise<Remediation[]> {
  if (!actions.revert) return []
  let q = env.db.selectFrom('insight_remediations').select('body').where('kind', '=', 'resize').where('status', '=', 'applied')
  if (project !== undefined) q = q.where('project', '=', project)
  const out: Remediation[] = []
  for (const row of await q.execute()) {
    const rem = JSON.parse(row.body) as Remediation
    const result = (rem.result ?? {}) as { effect?: Record<string, unknown>; restored?: Restored }
    if (result.restored?.ok || !pick(rem)) continue
    const action = { project: rem.project, kind: rem.kind, params: rem.params, runId: rem.runId, testId: rem.testId }
    const back = await actions.revert(action, result.effect).catch((err: unknown) => ({ ok: false, detail: (err as Error).message, effect: undefined }))
    rem.result = { ...result, restored: { at: new Date(env.clock.now()).toISOString(), afterRun, ok: back.ok, detail: back.detail, ...(back.effect ? { effect: back.effect } : {}) } }
    await saveRemediation(env, rem.project, rem)
    await auditRollback(env, rem, systemActors.remediation, back, 'insights.remediation.restore')
    out.push(rem)
  }
  return out
}
