/** @module insights/analysis-reads — what an analysis reads: the project's runs, failures and result rows (raw SQLite on the hot paths). */
import type { InsightsSettings } from '@tidepool/sdk'
import { chunks, type InsightsEnv } from './deps.js'
import { foldRows, type Entry, type RunInfo } from './flakiness.js'
import { isDefaultBranch, parseJson } from './runs.js'
import { outcomeName, type RunRow } from './tables.js'

export interface RunMeta extends RunInfo {
  pipeline: string | null
  queueMs?: number | undefined
  setupMs?: number | undefined
  analyzed: boolean
  wasInfra: boolean
  infraReason: string | null
}

export interface FailRow {
  test_id: string
  run_id: string
  at: number
  outcome: number
  signature: string
}

export interface ResultScan {
  test_id: string
  run_id: string
  outcome: number
  attempts: number
  fails: number
  duration_ms: number | null
  signature: string | null
}

export type RunScan = Pick<
  RunRow,
  'id' | 'at' | 'commit_sha' | 'code_key' | 'variant_key' | 'branch' | 'attempt' | 'pr' | 'pipeline' | 'infra' | 'analyzed' | 'infra_suspect' | 'infra_reason' | 'tests' | 'changed_files'
>

/** Every run of the project, oldest first, and its analysis view keyed by id (in the same order). */
export async function loadRunMeta(env: InsightsEnv, project: string, settings: Pick<InsightsSettings, 'defaultBranch'>): Promise<{ runRows: RunScan[]; runs: Map<string, RunMeta> }> {
  const runRows = await env.db
    .selectFrom('insight_runs')
    .select(['id', 'at', 'commit_sha', 'code_key', 'variant_key', 'branch', 'attempt', 'pr', 'pipeline', 'infra', 'analyzed', 'infra_suspect', 'infra_reason', 'tests', 'changed_files'])
    .where('project', '=', project)
    .orderBy('at')
    .orderBy('id')
    .execute()
  const runs = new Map<string, RunMeta>()
  for (const r of runRows) {
    const infra = parseJson<{ queueMs?: number; setupMs?: number }>(r.infra)
    runs.set(r.id, {
      id: r.id,
      at: r.at,
      commit: r.commit_sha,
      codeKey: r.code_key,
      variantKey: r.variant_key,
      branch: r.branch,
      isDefault: isDefaultBranch(r.branch, settings, env.cfg),
      infra: r.infra_suspect === 1,
      attempt: r.attempt,
      pr: r.pr ?? undefined,
      changedFiles: r.changed_files ? new Set(parseJson<string[]>(r.changed_files) ?? []) : undefined,
      pipeline: r.pipeline,
      queueMs: infra?.queueMs,
      setupMs: infra?.setupMs,
      analyzed: r.analyzed === 1,
      wasInfra: r.infra_suspect === 1,
      infraReason: r.infra_reason,
    })
  }
  return { runRows, runs }
}

/** One test's rows → entries, one per run (rows of several report files folded), oldest first. */
export function entriesOf(rows: readonly ResultScan[], runs: ReadonlyMap<string, RunMeta>): Entry[] {
  const entries: Entry[] = []
  const seen = new Map<string, number>()
  let multi = false
  for (const r of rows) {
    const run = runs.get(r.run_id)
    if (!run) continue
    const at = seen.get(r.run_id)
    if (at !== undefined) {
      multi = true
      continue
    }
    seen.set(r.run_id, entries.length)
    entries.push({ run, outcome: outcomeName[r.outcome] ?? 'skip', attempts: r.attempts, fails: r.fails, durationMs: r.duration_ms ?? undefined, signature: r.signature ?? undefined })
  }
  if (multi) {
    // Rare: a test in several report files of one run. Fold those runs properly.
    const byRun = new Map<string, ResultScan[]>()
    for (const r of rows) byRun.set(r.run_id, [...(byRun.get(r.run_id) ?? []), r])
    for (const [runId, rs] of byRun) {
      if (rs.length < 2) continue
      const i = seen.get(runId)
      if (i === undefined) continue
      entries[i] = {
        run: entries[i]!.run,
        ...foldRows(rs.map((r) => ({ outcome: outcomeName[r.outcome] ?? 'skip', attempts: r.attempts, fails: r.fails, durationMs: r.duration_ms ?? undefined, signature: r.signature ?? undefined }))),
      }
    }
  }
  entries.sort((a, b) => a.run.at - b.run.at || (a.run.id < b.run.id ? -1 : 1))
  return entries
}

/**
 * The result rows of the given tests in the window's runs, grouped per test. On SQLite, when the window holds most
 * runs, one sequential scan of the table beats index lookups; otherwise (and on PostgreSQL) the run-major index,
 * a chunk of runs at a time.
 */
export async function* resultGroups(env: InsightsEnv, project: string, testIds: readonly string[], windowRuns: ReadonlySet<string>, totalRuns: number): AsyncGenerator<[string, ResultScan[]]> {
  const wanted = new Set(testIds)
  const groups = new Map<string, ResultScan[]>()
  const add = (r: ResultScan) => {
    if (!wanted.has(r.test_id)) return
    const g = groups.get(r.test_id)
    if (g) g.push(r)
    else groups.set(r.test_id, [r])
  }
  if (env.sqlite && windowRuns.size > 0.6 * totalRuns) {
    const stmt = env.sqlite.prepare('SELECT test_id, run_id, outcome, attempts, fails, duration_ms, signature FROM insight_results WHERE project = ?')
    for (const r of stmt.iterate(project) as IterableIterator<ResultScan>) if (windowRuns.has(r.run_id)) add(r)
  } else {
    for (const batch of chunks([...windowRuns], 50)) for (const r of await loadRuns(env, project, batch)) add(r)
  }
  for (const id of [...groups.keys()].sort()) {
    yield [id, groups.get(id)!]
    groups.delete(id)
  }
}

/** Every failed attempt of the project (read from the small partial index). */
export async function loadFailures(env: InsightsEnv, project: string): Promise<FailRow[]> {
  if (env.sqlite) {
    return env.sqlite.prepare('SELECT test_id, run_id, at, outcome, signature FROM insight_results WHERE project = ? AND signature IS NOT NULL').all(project) as FailRow[]
  }
  const rows = await env.db.selectFrom('insight_results').select(['test_id', 'run_id', 'at', 'outcome', 'signature']).where('project', '=', project).where('signature', 'is not', null).execute()
  return rows as FailRow[]
}

async function loadRuns(env: InsightsEnv, project: string, runIds: readonly string[]): Promise<ResultScan[]> {
  if (env.sqlite) {
    const marks = runIds.map(() => '?').join(', ')
    return env.sqlite
      .prepare(`SELECT test_id, run_id, outcome, attempts, fails, duration_ms, signature FROM insight_results WHERE project = ? AND run_id IN (${marks})`)
      .all(project, ...runIds) as ResultScan[]
  }
  return env.db
    .selectFrom('insight_results')
    .select(['test_id', 'run_id', 'outcome', 'attempts', 'fails', 'duration_ms', 'signature'])
    .where('project', '=', project)
    .where('run_id', 'in', runIds)
    .execute()
}
