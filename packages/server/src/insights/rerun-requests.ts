/** @module insights/rerun-requests — an applied rerun is a request the CI consumes: an event on the event stream, and a list of pending ones. */
import type { Remediation, RerunRequest } from '@tidepool/sdk'
import type { InsightsEnv } from './deps.js'
import type { RunRow } from './tables.js'

/**
 * The event kind a rerun request is announced with on the event stream (EventLog: `sandboxId` is the run
 * id, `data` a RerunRequest). Webhook delivery subscribes to it: `events.subscribe(e => e.kind === rerunRequestedEvent && …)`.
 */
export const rerunRequestedEvent = 'insights.rerun_requested'
/** Announced when a request is withdrawn (its remediation rejected/reverted). */
export const rerunWithdrawnEvent = 'insights.rerun_withdrawn'

/** The request a rerun remediation makes of the CI. */
export function rerunRequestOf(rem: Remediation, run: Pick<RunRow, 'commit_sha' | 'branch' | 'pipeline' | 'pr'>): RerunRequest {
  return {
    remediationId: rem.id,
    runId: String(rem.params.runId ?? rem.runId),
    commit: run.commit_sha,
    branch: run.branch,
    ...(run.pipeline ? { pipeline: run.pipeline } : {}),
    ...(run.pr ? { pr: run.pr } : {}),
    attempt: Number(rem.params.attempt ?? 2),
    tests: Array.isArray(rem.params.tests) ? rem.params.tests.map(String) : [],
    requestedAt: rem.decidedAt ?? rem.createdAt,
    requestedBy: rem.decidedBy ?? 'system:remediation',
  }
}

async function runOf(env: InsightsEnv, project: string, runId: string): Promise<RunRow | undefined> {
  return env.db.selectFrom('insight_runs').selectAll().where('project', '=', project).where('id', '=', runId).executeTakeFirst()
}

/** Puts the request (or its withdrawal) on the event stream; without an event stream (unit tests) nothing is sent. */
export async function announceRerun(env: InsightsEnv, rem: Remediation, kind: typeof rerunRequestedEvent | typeof rerunWithdrawnEvent): Promise<void> {
  if (!env.events || !rem.runId) return
  const run = await runOf(env, rem.project, rem.runId)
  if (!run) return
  await env.events.emit({ project: rem.project, sandboxId: rem.runId, kind, actor: rem.decidedBy ?? 'system:remediation', data: { ...rerunRequestOf(rem, run) } })
}

/**
 * Applied rerun requests no run has answered yet: answered by a run of the same commit, pipeline and
 * variant with the requested attempt or a later one. Oldest first.
 */
export async function pendingRerunRequests(env: InsightsEnv, project: string, offset: number, limit: number): Promise<RerunRequest[]> {
  const rows = await env.db
    .selectFrom('insight_remediations')
    .select(['body', 'run_id'])
    .where('project', '=', project)
    .where('kind', '=', 'rerun')
    .where('status', '=', 'applied')
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute()
  const out: RerunRequest[] = []
  for (const row of rows) {
    if (!row.run_id) continue
    const rem = JSON.parse(row.body) as Remediation
    const run = await runOf(env, project, row.run_id)
    if (!run) continue
    const attempt = Number(rem.params.attempt ?? run.attempt + 1)
    let answered = env.db
      .selectFrom('insight_runs')
      .select('id')
      .where('project', '=', project)
      .where('commit_sha', '=', run.commit_sha)
      .where('variant_key', '=', run.variant_key)
      .where('attempt', '>=', attempt)
    answered = run.pipeline === null ? answered.where('pipeline', 'is', null) : answered.where('pipeline', '=', run.pipeline)
    if (await answered.executeTakeFirst()) continue
    out.push(rerunRequestOf(rem, run))
    if (out.length > offset + limit) break
  }
  return out.slice(offset, offset + limit + 1)
}
