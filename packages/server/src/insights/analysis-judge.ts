/** @module insights/analysis-judge — step 3 of an analysis: a verdict per test, and duration anomalies of tests, suites, queue and setup time. */
import { createHash } from 'node:crypto'
import type { Anomaly } from '@tidepool/sdk'
import { detectAnomalies, type Finding, type Point } from './anomalies.js'
import { entriesOf, resultGroups, type RunMeta } from './analysis-reads.js'
import type { InsightsEnv } from './deps.js'
import { judgeTest, type Entry, type Verdict } from './flakiness.js'
import type { TestRow } from './tables.js'

export type JudgedVerdict = Verdict & { lastSeen: number; firstSeen: number }

export interface Judgement {
  verdicts: Map<string, JudgedVerdict>
  anomalies: Anomaly[]
  /** Suite subject (`framework:suite`) of every suite whose anomalies were recomputed. */
  suites: string[]
  /** Result rows read. */
  results: number
}

/** Per test in `judge`: its verdict and duration anomalies over the window's runs; suite totals per run on the side. */
export async function judgeTests(
  env: InsightsEnv,
  project: string,
  judge: readonly string[],
  windowRuns: ReadonlySet<string>,
  runs: ReadonlyMap<string, RunMeta>,
  tests: ReadonlyMap<string, TestRow>,
): Promise<Judgement> {
  const verdicts = new Map<string, JudgedVerdict>()
  const anomalies: Anomaly[] = []
  const suiteTotals = new Map<string, { label: string; byRun: Map<string, number> }>()
  let results = 0
  for await (const [testId, rowsOfTest] of resultGroups(env, project, judge, windowRuns, runs.size)) {
    results += rowsOfTest.length
    const entries = entriesOf(rowsOfTest, runs)
    if (entries.length === 0) continue
    const t = tests.get(testId)!
    const v = judgeTest(entries, env.cfg, t.file || undefined)
    verdicts.set(testId, { ...v, firstSeen: entries[0]!.run.at, lastSeen: entries[entries.length - 1]!.run.at })
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
  anomalies.push(...pipelineAnomalies(env, project, runs))
  return { verdicts, anomalies, suites: [...suiteTotals.keys()].map((k) => k.replace('\u0000', ':')), results }
}

/** Queue and setup time of runs, per pipeline. */
function pipelineAnomalies(env: InsightsEnv, project: string, runs: ReadonlyMap<string, RunMeta>): Anomaly[] {
  const out: Anomaly[] = []
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
    for (const [p, entries] of byPipeline) out.push(...testAnomalies(env, project, kind, p, `${kind} time of ${p}`, entries, false))
  }
  return out
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
