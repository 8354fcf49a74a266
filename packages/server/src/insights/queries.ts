/** @module insights/queries — the SQL of the insights service: one function per query, no orchestration. */
import type { Remediation, InsightsSettings } from '@tidepool/sdk'
import { containing } from '../store/like.js'
import type { InsightsEnv } from './deps.js'
import type { QuarantineRow, ResultRow, RunRow, TestRow } from './tables.js'

type Env = Pick<InsightsEnv, 'db'>

/** Whether the project has a run ingested since the last analysis. */
export async function hasUnanalyzedRuns(env: Env, project: string): Promise<boolean> {
  const pending = await env.db.selectFrom('insight_runs').select('id').where('project', '=', project).where('analyzed', '=', 0).limit(1).executeTakeFirst()
  return pending !== undefined
}

/** One page of runs (one row more than `limit`, so the caller knows whether another page follows), newest first. */
export async function selectRuns(
  env: Env,
  project: string,
  f: { branch?: string | undefined; commit?: string | undefined; pr?: string | undefined; limit: number },
  offset: number,
): Promise<RunRow[]> {
  let q = env.db.selectFrom('insight_runs').selectAll().where('project', '=', project)
  if (f.branch) q = q.where('branch', '=', f.branch)
  if (f.commit) q = q.where('commit_sha', '=', f.commit)
  if (f.pr) q = q.where('pr', '=', f.pr)
  return q
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .offset(offset)
    .execute()
}

/** Marks a run finished and due for analysis. */
export async function markRunFinished(env: Env, project: string, runId: string, finishedAt: string, infra: string | null): Promise<void> {
  await env.db.updateTable('insight_runs').set({ status: 'finished', finished_at: finishedAt, infra, analyzed: 0 }).where('project', '=', project).where('id', '=', runId).execute()
}

/** Every run of the project is judged again at the next analysis. */
export async function markProjectUnanalyzed(env: Env, project: string): Promise<void> {
  await env.db.updateTable('insight_runs').set({ analyzed: 0 }).where('project', '=', project).execute()
}

export interface DecisionRow {
  kind: string
  run_id: string | null
  test_id: string | null
  status: string
  body: string
}

/** This run's decisions, and the live quarantines / armed snapshots of the project (not its whole history). */
export async function decisionsFor(env: Env, project: string, runId: string): Promise<DecisionRow[]> {
  return env.db
    .selectFrom('insight_remediations')
    .select(['kind', 'run_id', 'test_id', 'status', 'body'])
    .where('project', '=', project)
    .where((eb) => eb.or([eb('run_id', '=', runId), eb.and([eb('kind', 'in', ['quarantine', 'snapshot_on_failure']), eb('status', 'in', ['suggested', 'applied'])])]))
    .execute()
}

/** Ids of tests whose quarantine has not expired at `now`. */
export async function quarantinedTestIds(env: Env, project: string, now: number): Promise<string[]> {
  const rows = await env.db.selectFrom('insight_quarantine').select('test_id').where('project', '=', project).where('expires_at', '>', now).execute()
  return rows.map((r) => r.test_id)
}

/** Live quarantines of the given tests. */
export async function quarantinesOf(env: Env, project: string, testIds: readonly string[], now: number): Promise<QuarantineRow[]> {
  if (testIds.length === 0) return []
  return env.db.selectFrom('insight_quarantine').selectAll().where('project', '=', project).where('test_id', 'in', testIds).where('expires_at', '>', now).execute()
}

/** One page of tests (one row more than `limit`), highest flakiness score first; `q` matches suite, name or file literally. */
export async function selectTests(env: Env, project: string, f: { status?: string | undefined; q?: string | undefined; limit: number }, offset: number): Promise<TestRow[]> {
  let q = env.db.selectFrom('insight_tests').selectAll().where('project', '=', project)
  if (f.status) q = q.where('status', '=', f.status)
  if (f.q) {
    const like = containing(f.q)
    q = q.where((eb) => eb.or([eb('suite', 'like', like), eb('name', 'like', like), eb('file', 'like', like)]))
  }
  return q
    .orderBy('score', 'desc')
    .orderBy('id')
    .limit(f.limit + 1)
    .offset(offset)
    .execute()
}

export async function findTest(env: Env, project: string, testId: string): Promise<TestRow | undefined> {
  return env.db.selectFrom('insight_tests').selectAll().where('project', '=', project).where('id', '=', testId).executeTakeFirst()
}

export type HistoryRun = Pick<RunRow, 'id' | 'at' | 'commit_sha' | 'code_key' | 'branch' | 'variant' | 'attempt' | 'infra_suspect'>

/** Runs at or before `until`, newest first, strictly older than `before` when given (keyset paging). */
export async function runsBefore(env: Env, project: string, o: { until: number; branch?: string | undefined; before?: { at: number; id: string } | undefined; limit: number }): Promise<HistoryRun[]> {
  const before = o.before
  return env.db
    .selectFrom('insight_runs')
    .select(['id', 'at', 'commit_sha', 'code_key', 'branch', 'variant', 'attempt', 'infra_suspect'])
    .where('project', '=', project)
    .where('at', '<=', o.until)
    .$if(o.branch !== undefined, (qb) => qb.where('branch', '=', o.branch!))
    .$if(before !== undefined, (qb) => qb.where((eb) => eb.or([eb('at', '<', before!.at), eb.and([eb('at', '=', before!.at), eb('id', '<', before!.id)])])))
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(o.limit)
    .execute()
}

export type HistoryResult = Pick<ResultRow, 'run_id' | 'outcome' | 'attempts' | 'fails' | 'duration_ms' | 'signature' | 'message'>

/** One test's result rows in the given runs (looked up in the run-major index). */
export async function resultsOfTest(env: Env, project: string, testId: string, runIds: readonly string[]): Promise<HistoryResult[]> {
  return env.db
    .selectFrom('insight_results')
    .select(['run_id', 'outcome', 'attempts', 'fails', 'duration_ms', 'signature', 'message'])
    .where('project', '=', project)
    .where('run_id', 'in', runIds)
    .where('test_id', '=', testId)
    .execute()
}

/** The remediations recorded for a run, oldest first. */
export async function remediationsOfRun(env: Env, project: string, runId: string): Promise<Remediation[]> {
  const rows = await env.db.selectFrom('insight_remediations').select('body').where('project', '=', project).where('run_id', '=', runId).orderBy('created_at').execute()
  return rows.map((r) => JSON.parse(r.body) as Remediation)
}

export async function saveRemediation(env: Env, project: string, rem: Remediation): Promise<void> {
  await env.db
    .updateTable('insight_remediations')
    .set({ body: JSON.stringify(rem) })
    .where('project', '=', project)
    .where('id', '=', rem.id)
    .execute()
}

/** One page of remediations (one more than `limit`), newest first. */
export async function selectRemediations(
  env: Env,
  project: string,
  f: { status?: string | undefined; kind?: string | undefined; runId?: string | undefined; limit: number },
  offset: number,
): Promise<string[]> {
  let q = env.db.selectFrom('insight_remediations').select('body').where('project', '=', project)
  if (f.status) q = q.where('status', '=', f.status)
  if (f.kind) q = q.where('kind', '=', f.kind)
  if (f.runId) q = q.where('run_id', '=', f.runId)
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(f.limit + 1)
    .offset(offset)
    .execute()
  return rows.map((r) => r.body)
}

/** One page of anomaly bodies (one more than `limit`). */
export async function selectAnomalies(
  env: Env,
  project: string,
  f: { kind?: string | undefined; type?: string | undefined; subject?: string | undefined; limit: number },
  offset: number,
): Promise<string[]> {
  let q = env.db.selectFrom('insight_anomalies').select('body').where('project', '=', project)
  if (f.kind) q = q.where('kind', '=', f.kind)
  if (f.type) q = q.where('type', '=', f.type)
  if (f.subject) q = q.where('subject', '=', f.subject)
  const rows = await q
    .orderBy('type', 'desc')
    .orderBy('at', 'desc')
    .orderBy('id')
    .limit(f.limit + 1)
    .offset(offset)
    .execute()
  return rows.map((r) => r.body)
}

export interface SignatureStats {
  id: string
  text: string
  example: string
  infra_like: number
  count: number
  tests: number
  runs: number
  first: number
  last: number
}

/** One page of error signatures (one more than `limit`) with their counts, most frequent first; `q` matches text or example literally. */
export async function selectSignatures(env: Env, project: string, f: { q?: string | undefined; limit: number }, offset: number): Promise<SignatureStats[]> {
  let q = env.db
    .selectFrom('insight_results as r')
    .innerJoin('insight_signatures as s', (j) => j.onRef('s.project', '=', 'r.project').onRef('s.id', '=', 'r.signature'))
    .select((eb) => [
      's.id',
      's.text',
      's.example',
      's.infra_like',
      eb.fn.countAll<number>().as('count'),
      eb.fn.count<number>('r.test_id').distinct().as('tests'),
      eb.fn.count<number>('r.run_id').distinct().as('runs'),
      eb.fn.min<number>('r.at').as('first'),
      eb.fn.max<number>('r.at').as('last'),
    ])
    .where('r.project', '=', project)
    .where('r.signature', 'is not', null)
  if (f.q) {
    const like = containing(f.q)
    q = q.where((eb) => eb.or([eb('s.text', 'like', like), eb('s.example', 'like', like)]))
  }
  return q
    .groupBy(['s.id', 's.text', 's.example', 's.infra_like'])
    .orderBy('count', 'desc')
    .orderBy('s.id')
    .limit(f.limit + 1)
    .offset(offset)
    .execute()
}

export async function clusterBodies(env: Env, project: string): Promise<string[]> {
  const rows = await env.db.selectFrom('insight_clusters').select('body').where('project', '=', project).execute()
  return rows.map((r) => r.body)
}

export async function saveSettings(env: Env, project: string, settings: Partial<InsightsSettings>, updatedAt: string): Promise<void> {
  const body = JSON.stringify(settings)
  await env.db
    .insertInto('insight_settings')
    .values({ project, body, updated_at: updatedAt })
    .onConflict((oc) => oc.column('project').doUpdateSet({ body, updated_at: updatedAt }))
    .execute()
}
