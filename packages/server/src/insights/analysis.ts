/** @module insights/analysis — (re-)analyses a project: run outage classification, test verdicts, duration anomalies, co-failing clusters. */
import { createHash } from 'node:crypto'
import type { Anomaly } from '@tidepool/sdk'
import { detectAnomalies, type Finding, type Point } from './anomalies.js'
import { findClusters } from './clusters.js'
import { chunks, type InsightsEnv } from './deps.js'
import { foldRows, judgeTest, type Entry, type RunInfo, type Verdict } from './flakiness.js'
import { classifyRun } from './infra.js'
import { isDefaultBranch, loadSettings, parseJson } from './runs.js'
import { outcomeName, type AnomalyRow, type TestRow } from './tables.js'

export interface AnalysisResult {
  tests: number
  runs: number
  results: number
  ms: number
}

interface RunMeta extends RunInfo {
  pipeline: string | null
  queueMs?: number | undefined
  setupMs?: number | undefined
  analyzed: boolean
  wasInfra: boolean
  infraReason: string | null
}

interface FailRow {
  test_id: string
  run_id: string
  at: number
  outcome: number
  signature: string
}

interface ResultScan {
  test_id: string
  run_id: string
  outcome: number
  attempts: number
  fails: number
  duration_ms: number | null
  signature: string | null
}

/** Re-analyses the project: every test (`full`) or those in runs ingested since the last analysis. */
export async function analyzeProject(env: InsightsEnv, project: string, opts: { full: boolean }): Promise<AnalysisResult> {
  const started = performance.now()
  const cfg = env.cfg
  const settings = await loadSettings(env.db, project, cfg)
  const runRows = await env.db
    .selectFrom('insight_runs')
    .select(['id', 'at', 'commit_sha', 'code_key', 'variant_key', 'branch', 'attempt', 'pr', 'pipeline', 'infra', 'analyzed', 'infra_suspect', 'infra_reason', 'tests'])
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
      isDefault: isDefaultBranch(r.branch, settings, cfg),
      infra: r.infra_suspect === 1,
      attempt: r.attempt,
      pr: r.pr ?? undefined,
      pipeline: r.pipeline,
      queueMs: infra?.queueMs,
      setupMs: infra?.setupMs,
      analyzed: r.analyzed === 1,
      wasInfra: r.infra_suspect === 1,
      infraReason: r.infra_reason,
    })
  }
  const dirtyRuns = [...runs.values()].filter((r) => opts.full || !r.analyzed)
  // The window: the project's newest historyRuns runs. Every test is judged on its results in them.
  const windowRuns = new Set(runRows.slice(Math.max(0, runRows.length - cfg.historyRuns)).map((r) => r.id))
  if (dirtyRuns.length === 0) return { tests: 0, runs: 0, results: 0, ms: performance.now() - started }

  const testRows = await env.db.selectFrom('insight_tests').selectAll().where('project', '=', project).execute()
  const tests = new Map<string, TestRow>(testRows.map((t) => [t.id, t]))
  const sigRows = await env.db.selectFrom('insight_signatures').select(['id', 'infra_like']).where('project', '=', project).execute()
  const infraLike = new Map(sigRows.map((s) => [s.id, s.infra_like === 1]))

  // 1. Outage classification of dirty runs, in time order (the previous run of a branch+variant tells persistence).
  const failRows = await loadFailures(env, project)
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
    if (opts.full || !run.analyzed) {
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
        cfg.infra,
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

  // 2. Which tests to judge: all, or those in dirty runs plus every test of their suites (suite totals stay whole).
  let judge: string[]
  if (opts.full) judge = [...tests.keys()]
  else {
    const touched = new Set<string>()
    for (const batch of chunks(dirtyRuns.map((r) => r.id), 400)) {
      const rows = await env.db.selectFrom('insight_results').select('test_id').distinct().where('project', '=', project).where('run_id', 'in', batch).execute()
      for (const r of rows) touched.add(r.test_id)
    }
    const suites = new Set<string>()
    for (const id of touched) {
      const t = tests.get(id)
      if (t) suites.add(`${t.framework}\u0000${t.suite}`)
    }
    for (const t of tests.values()) if (suites.has(`${t.framework}\u0000${t.suite}`)) touched.add(t.id)
    judge = [...touched].filter((id) => tests.has(id))
  }

  // 3. Per test: verdict and duration anomalies; suite totals per run on the side.
  const verdicts = new Map<string, Verdict & { lastSeen: number; firstSeen: number }>()
  const anomalies: Anomaly[] = []
  const suiteTotals = new Map<string, { label: string; byRun: Map<string, number> }>()
  let resultCount = 0
  for await (const [testId, rowsOfTest] of resultGroups(env, project, judge, windowRuns, runs.size)) {
    resultCount += rowsOfTest.length
    const entries = entriesOf(rowsOfTest, runs)
    if (entries.length === 0) continue
    const v = judgeTest(entries, cfg)
    verdicts.set(testId, { ...v, firstSeen: entries[0]!.run.at, lastSeen: entries[entries.length - 1]!.run.at })
    const t = tests.get(testId)!
    anomalies.push(...testAnomalies(env, project, 'test', testId, `${t.suite} › ${t.name}`, entries))
    const suiteKey = `${t.framework}\u0000${t.suite}`
    let st = suiteTotals.get(suiteKey)
    if (!st) suiteTotals.set(suiteKey, (st = { label: t.suite, byRun: new Map() }))
    for (const e of entries) {
      if (e.run.infra || e.outcome !== 'pass' || e.durationMs === undefined) continue
      st.byRun.set(e.run.id, (st.byRun.get(e.run.id) ?? 0) + e.durationMs)
    }
  }
  for (const [key, st] of suiteTotals) {
    const entries: Entry[] = []
    for (const [runId, ms] of st.byRun) entries.push({ run: runs.get(runId)!, outcome: 'pass', attempts: 1, fails: 0, durationMs: ms })
    entries.sort((a, b) => a.run.at - b.run.at)
    anomalies.push(...testAnomalies(env, project, 'suite', key.replace('\u0000', ':'), st.label, entries))
  }
  // Queue and setup time of runs, per pipeline.
  for (const kind of ['queue', 'setup'] as const) {
    const byPipeline = new Map<string, Entry[]>()
    for (const run of runs.values()) {
      const v = kind === 'queue' ? run.queueMs : run.setupMs
      if (v === undefined) continue
      const p = run.pipeline ?? '(all)'
      let l = byPipeline.get(p)
      if (!l) byPipeline.set(p, (l = []))
      l.push({ run, outcome: 'pass', attempts: 1, fails: 0, durationMs: v })
    }
    for (const [p, entries] of byPipeline) anomalies.push(...testAnomalies(env, project, kind, p, `${kind} time of ${p}`, entries, false))
  }

  // 4. Co-failing clusters over every failure outside outage runs.
  const failing = new Map<string, Map<string, string>>()
  for (const f of failRows) {
    const run = runs.get(f.run_id)
    if (!run || run.infra || !windowRuns.has(f.run_id)) continue
    let m = failing.get(f.test_id)
    if (!m) failing.set(f.test_id, (m = new Map()))
    m.set(f.run_id, f.signature)
  }
  const clusters = findClusters(failing, { minCoFailures: cfg.clusterMinCoFailures, minJaccard: cfg.clusterMinJaccard })
  const clusterOf = new Map<string, string>()
  for (const c of clusters) for (const t of c.tests) clusterOf.set(t, c.id)

  // 5. Persist.
  const now = env.clock.now()
  const judgedSubjects = new Set<string>([...judge.map((id) => `test\u0000${id}`), ...[...suiteTotals.keys()].map((k) => `suite\u0000${k.replace('\u0000', ':')}`)])
  await env.db.transaction().execute(async (trx) => {
    for (const run of changedRuns) {
      await trx
        .updateTable('insight_runs')
        .set({ infra_suspect: run.infra ? 1 : 0, infra_reason: run.infraReason, analyzed: 1 })
        .where('project', '=', project)
        .where('id', '=', run.id)
        .execute()
    }
    const log: { project: string; test_id: string; at: number; from_status: string; to_status: string }[] = []
    const updates: TestRow[] = []
    for (const [id, v] of verdicts) {
      const prev = tests.get(id)!
      if (prev.status !== v.status) log.push({ project, test_id: id, at: v.since ?? now, from_status: prev.status, to_status: v.status })
      updates.push({
        ...prev,
        first_seen: v.firstSeen,
        last_seen: v.lastSeen,
        status: v.status,
        tier: v.tier,
        score: v.score.mean,
        lo: v.score.lo,
        hi: v.score.hi,
        n: v.n,
        fails: v.fails,
        evidence: v.evidence,
        excluded: v.excluded,
        streak: v.failStreak,
        since: v.since ?? null,
        cluster: clusterOf.get(id) ?? null,
      })
    }
    // Cluster membership can change for tests not judged this time.
    for (const t of tests.values()) {
      if (verdicts.has(t.id)) continue
      const c = clusterOf.get(t.id) ?? null
      if (c !== t.cluster) updates.push({ ...t, cluster: c })
    }
    if (env.sqlite) {
      const upd = env.sqlite.prepare(
        'UPDATE insight_tests SET first_seen = ?, last_seen = ?, status = ?, tier = ?, score = ?, lo = ?, hi = ?, n = ?, fails = ?, evidence = ?, excluded = ?, streak = ?, since = ?, cluster = ? WHERE project = ? AND id = ?',
      )
      for (const u of updates) upd.run(u.first_seen, u.last_seen, u.status, u.tier, u.score, u.lo, u.hi, u.n, u.fails, u.evidence, u.excluded, u.streak, u.since, u.cluster, project, u.id)
    } else {
      for (const u of updates) {
        const { project: _p, id: _i, ...set } = u
        await trx.updateTable('insight_tests').set(set).where('project', '=', project).where('id', '=', u.id).execute()
      }
    }
    for (const batch of chunks(log, 500)) await trx.insertInto('insight_status_log').values(batch).execute()

    if (opts.full) await trx.deleteFrom('insight_anomalies').where('project', '=', project).execute()
    else {
      for (const kind of ['queue', 'setup']) await trx.deleteFrom('insight_anomalies').where('project', '=', project).where('kind', '=', kind).execute()
      for (const batch of chunks([...judgedSubjects], 300)) {
        for (const kind of ['test', 'suite']) {
          const ids = batch.filter((s) => s.startsWith(`${kind}\u0000`)).map((s) => s.slice(kind.length + 1))
          if (ids.length) await trx.deleteFrom('insight_anomalies').where('project', '=', project).where('kind', '=', kind).where('subject', 'in', ids).execute()
        }
      }
    }
    const rows: AnomalyRow[] = anomalies.map((a) => ({ project, id: a.id, kind: a.kind, subject: a.subject, label: a.label, type: a.type, at: Date.parse(a.at), run_id: a.runId, body: JSON.stringify(a) }))
    for (const batch of chunks(rows, 300)) {
      await trx.insertInto('insight_anomalies').values(batch).onConflict((oc) => oc.columns(['project', 'id']).doNothing()).execute()
    }
    await trx.deleteFrom('insight_clusters').where('project', '=', project).execute()
    const clusterRows = clusters.map((c) => ({
      project,
      id: c.id,
      body: JSON.stringify({
        id: c.id,
        tests: c.tests.map((t) => ({ testId: t, name: tests.get(t) ? `${tests.get(t)!.suite} › ${tests.get(t)!.name}` : t })),
        coFailures: c.coFailures,
        jaccard: c.jaccard,
        ...(c.signature ? { signature: c.signature } : {}),
      }),
    }))
    for (const batch of chunks(clusterRows, 300)) await trx.insertInto('insight_clusters').values(batch).execute()
  })
  return { tests: verdicts.size, runs: changedRuns.length, results: resultCount, ms: performance.now() - started }
}

/** One test's rows → entries, one per run (rows of several report files folded), oldest first. */
function entriesOf(rows: readonly ResultScan[], runs: ReadonlyMap<string, RunMeta>): Entry[] {
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

function testAnomalies(env: InsightsEnv, project: string, kind: Anomaly['kind'], subject: string, label: string, entries: readonly Entry[], passOnly = true): Anomaly[] {
  // One series per variant: a macOS run is not a slow Linux run.
  const byVariant = new Map<string, Point[]>()
  const window = entries.length > env.cfg.historyRuns ? entries.slice(entries.length - env.cfg.historyRuns) : entries
  for (const e of window) {
    if (e.durationMs === undefined || (passOnly && (e.run.infra || e.outcome !== 'pass'))) continue
    let l = byVariant.get(e.run.variantKey)
    if (!l) byVariant.set(e.run.variantKey, (l = []))
    l.push({ at: e.run.at, runId: e.run.id, commit: e.run.commit, value: e.durationMs })
  }
  const out: Anomaly[] = []
  for (const [variant, points] of byVariant) {
    for (const f of detectAnomalies(points, env.cfg.anomalies)) out.push(toAnomaly(project, kind, subject, variant ? `${label} [${variant}]` : label, f))
  }
  return out
}

function toAnomaly(project: string, kind: Anomaly['kind'], subject: string, label: string, f: Finding): Anomaly {
  const id = `an_${createHash('sha256').update(`${project}\u0000${kind}\u0000${subject}\u0000${label}\u0000${f.type}\u0000${f.point.runId}`).digest('hex').slice(0, 14)}`
  return {
    id,
    kind,
    subject,
    label,
    type: f.type,
    at: new Date(f.point.at).toISOString(),
    runId: f.point.runId,
    commit: f.point.commit,
    valueMs: round(f.point.value),
    baselineMs: round(f.baselineMs),
    madMs: round(f.madMs),
    ratio: Math.round(f.ratio * 1000) / 1000,
    ...(f.pValue !== undefined ? { pValue: f.pValue } : {}),
    ...(f.changePoint ? { changePoint: { runId: f.changePoint.runId, commit: f.changePoint.commit, at: new Date(f.changePoint.at).toISOString() } } : {}),
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

/**
 * The result rows of the given tests in the window's runs, grouped per test. On SQLite, when the window holds most
 * runs, one sequential scan of the table beats index lookups; otherwise (and on PostgreSQL) the run-major index,
 * a chunk of runs at a time.
 */
async function* resultGroups(env: InsightsEnv, project: string, testIds: readonly string[], windowRuns: ReadonlySet<string>, totalRuns: number): AsyncGenerator<[string, ResultScan[]]> {
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
async function loadFailures(env: InsightsEnv, project: string): Promise<FailRow[]> {
  if (env.sqlite) {
    return env.sqlite
      .prepare('SELECT test_id, run_id, at, outcome, signature FROM insight_results WHERE project = ? AND signature IS NOT NULL')
      .all(project) as FailRow[]
  }
  const rows = await env.db
    .selectFrom('insight_results')
    .select(['test_id', 'run_id', 'at', 'outcome', 'signature'])
    .where('project', '=', project)
    .where('signature', 'is not', null)
    .execute()
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
