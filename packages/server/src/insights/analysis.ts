/** @module insights/analysis — (re-)analyses a project: run outage classification, test verdicts, duration anomalies, co-failing clusters. */
import { judgeTests } from './analysis-judge.js'
import { persistAnalysis } from './analysis-persist.js'
import { loadFailures, loadRunMeta, type FailRow, type RunMeta, type RunScan } from './analysis-reads.js'
import { findClusters, type FoundCluster } from './clusters.js'
import { chunks, type InsightsEnv } from './deps.js'
import { classifyRun } from './infra.js'
import { loadSettings } from './runs.js'
import type { TestRow } from './tables.js'

export interface AnalysisResult {
  tests: number
  runs: number
  results: number
  ms: number
}

/** Re-analyses the project: every test (`full`) or those in runs ingested since the last analysis. */
export async function analyzeProject(env: InsightsEnv, project: string, opts: { full: boolean }): Promise<AnalysisResult> {
  const started = performance.now()
  const settings = await loadSettings(env.db, project, env.cfg)
  const { runRows, runs } = await loadRunMeta(env, project, settings)
  const dirtyRuns = [...runs.values()].filter((r) => opts.full || !r.analyzed)
  // The window: the project's newest historyRuns runs. Every test is judged on its results in them.
  const windowRuns = new Set(runRows.slice(Math.max(0, runRows.length - env.cfg.historyRuns)).map((r) => r.id))
  if (dirtyRuns.length === 0) return { tests: 0, runs: 0, results: 0, ms: performance.now() - started }

  const testRows = await env.db.selectFrom('insight_tests').selectAll().where('project', '=', project).execute()
  const tests = new Map<string, TestRow>(testRows.map((t) => [t.id, t]))
  const sigRows = await env.db.selectFrom('insight_signatures').select(['id', 'infra_like']).where('project', '=', project).execute()
  const infraLike = new Map(sigRows.map((s) => [s.id, s.infra_like === 1]))

  const failRows = await loadFailures(env, project)
  const changedRuns = classifyOutages(env, runRows, runs, failRows, tests, infraLike, opts.full)
  const judge = opts.full ? [...tests.keys()] : await testsToJudge(env, project, dirtyRuns, tests)
  const { verdicts, anomalies, suites, results } = await judgeTests(env, project, judge, windowRuns, runs, tests)
  const { clusters, clusterOf } = coFailingClusters(env, failRows, runs, windowRuns)
  const judgedSubjects = new Set<string>([...judge.map((id) => `test\u0000${id}`), ...suites.map((s) => `suite\u0000${s}`)])
  await persistAnalysis(env, project, { full: opts.full, changedRuns, tests, verdicts, anomalies, judgedSubjects, clusters, clusterOf })
  return { tests: verdicts.size, runs: changedRuns.length, results, ms: performance.now() - started }
}

/**
 * Step 1: outage classification of dirty runs, in time order (the previous run of a branch+variant tells
 * persistence). Updates `infra` / `infraReason` of the runs in place and returns those it judged.
 */
export function classifyOutages(
  env: Pick<InsightsEnv, 'cfg'>,
  runRows: readonly Pick<RunScan, 'id' | 'tests'>[],
  runs: ReadonlyMap<string, RunMeta>,
  failRows: readonly FailRow[],
  tests: ReadonlyMap<string, Pick<TestRow, 'suite'>>,
  infraLike: ReadonlyMap<string, boolean>,
  full: boolean,
): RunMeta[] {
  const failingByRun = new Map<string, FailRow[]>()
  for (const f of failRows) {
    let l = failingByRun.get(f.run_id)
    if (!l) failingByRun.set(f.run_id, (l = []))
    l.push(f)
  }
  const testsInRun = new Map(runRows.map((r) => [r.id, r.tests]))
  const lastOfLine = new Map<string, Set<string>>()
  const changedRuns: RunMeta[] = []
  // Ordinals of the (non-outage) runs each signature failed in: a signature in ≥ 3 of the last 30 runs is background.
  const sigSeen = new Map<string, number[]>()
  let ordinal = 0
  for (const run of runs.values()) {
    ordinal++
    const line = `${run.branch}\u0000${run.variantKey}`
    const failing = (failingByRun.get(run.id) ?? []).filter((f) => f.outcome === 1)
    const failingTests = new Set(failing.map((f) => f.test_id))
    if (full || !run.analyzed) {
      const verdict = classifyRun(
        {
          tests: testsInRun.get(run.id) ?? 0,
          failing: [...new Map(failing.map((f) => [f.test_id, f])).values()].map((f) => ({
            testId: f.test_id,
            signature: f.signature,
            suite: tests.get(f.test_id)?.suite ?? '',
            infraLike: infraLike.get(f.signature) ?? false,
          })),
        },
        {
          prevFailing: lastOfLine.get(line),
          isBackground: (sig) => (sigSeen.get(sig) ?? []).filter((o) => o >= ordinal - 30).length >= 3,
        },
        env.cfg.infra,
      )
      run.infra = verdict.suspect
      run.infraReason = verdict.reason ?? null
      changedRuns.push(run)
    }
    lastOfLine.set(line, failingTests)
    if (!run.infra) {
      for (const sig of new Set(failing.map((f) => f.signature))) {
        const l = sigSeen.get(sig)
        if (l) l.push(ordinal)
        else sigSeen.set(sig, [ordinal])
      }
    }
  }
  return changedRuns
}

/** Step 2 (incremental analysis): the tests in dirty runs plus every test of their suites (suite totals stay whole). */
export async function testsToJudge(env: InsightsEnv, project: string, dirtyRuns: readonly RunMeta[], tests: ReadonlyMap<string, TestRow>): Promise<string[]> {
  const touched = new Set<string>()
  for (const batch of chunks(
    dirtyRuns.map((r) => r.id),
    400,
  )) {
    const rows = await env.db.selectFrom('insight_results').select('test_id').distinct().where('project', '=', project).where('run_id', 'in', batch).execute()
    for (const r of rows) touched.add(r.test_id)
  }
  return withWholeSuites(touched, tests)
}

/** The given tests and every other test of their suites, known tests only. */
export function withWholeSuites(touched: ReadonlySet<string>, tests: ReadonlyMap<string, Pick<TestRow, 'id' | 'framework' | 'suite'>>): string[] {
  const all = new Set(touched)
  const suites = new Set<string>()
  for (const id of touched) {
    const t = tests.get(id)
    if (t) suites.add(`${t.framework}\u0000${t.suite}`)
  }
  for (const t of tests.values()) if (suites.has(`${t.framework}\u0000${t.suite}`)) all.add(t.id)
  return [...all].filter((id) => tests.has(id))
}

/** Step 4: co-failing clusters over every failure in the window outside outage runs. */
export function coFailingClusters(
  env: Pick<InsightsEnv, 'cfg'>,
  failRows: readonly FailRow[],
  runs: ReadonlyMap<string, Pick<RunMeta, 'infra'>>,
  windowRuns: ReadonlySet<string>,
): { clusters: FoundCluster[]; clusterOf: Map<string, string> } {
  const failing = new Map<string, Map<string, string>>()
  for (const f of failRows) {
    const run = runs.get(f.run_id)
    if (!run || run.infra || !windowRuns.has(f.run_id)) continue
    let m = failing.get(f.test_id)
    if (!m) failing.set(f.test_id, (m = new Map()))
    m.set(f.run_id, f.signature)
  }
  const clusters = findClusters(failing, { minCoFailures: env.cfg.clusterMinCoFailures, minJaccard: env.cfg.clusterMinJaccard })
  const clusterOf = new Map<string, string>()
  for (const c of clusters) for (const t of c.tests) clusterOf.set(t, c.id)
  return { clusters, clusterOf }
}
