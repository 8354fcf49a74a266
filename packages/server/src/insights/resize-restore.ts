/** @module insights/resize-restore — a resize is for the run after the starved one: when that run ends, the sandbox goes back down. */
import type { Remediation } from '@tidepool/sdk'
import { systemActors } from '../audit/system-actor.js'
import type { RemediationActions } from './actions.js'
import type { InsightsEnv } from './deps.js'
import { saveRemediation } from './queries.js'
import { auditRollback } from './remediation.js'

interface Restored {
  at: string
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
  if (!sandboxId || !actions.revert) return []
  const rows = await env.db
    .selectFrom('insight_remediations')
    .select('body')
    .where('project', '=', project)
    .where('kind', '=', 'resize')
    .where('status', '=', 'applied')
    .where('run_id', '!=', runId)
    .execute()
  const out: Remediation[] = []
  for (const row of rows) {
    const rem = JSON.parse(row.body) as Remediation
    const result = (rem.result ?? {}) as { effect?: Record<string, unknown>; restored?: Restored }
    if (rem.params.sandboxId !== sandboxId || result.restored?.ok) continue
    const action = { project, kind: rem.kind, params: rem.params, runId: rem.runId, testId: rem.testId }
    const back = await actions.revert(action, result.effect).catch((err: unknown) => ({ ok: false, detail: (err as Error).message, effect: undefined }))
    rem.result = { ...result, restored: { at: new Date(env.clock.now()).toISOString(), afterRun: runId, ok: back.ok, detail: back.detail, ...(back.effect ? { effect: back.effect } : {}) } }
    await saveRemediation(env, project, rem)
    await auditRollback(env, rem, systemActors.remediation, back, 'insights.remediation.restore')
    out.push(rem)
  }
  return out
}
