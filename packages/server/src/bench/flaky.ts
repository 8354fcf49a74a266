/**
 * @module bench/flaky — flaky detection across commits: a main branch where every run is a new commit and no
 * runner retries (500 tests × 300 commits; flaky rates 2–30 %, breaks, fixes, quick reverts, outages), scored
 * against the known truth: precision, recall, failures until detection.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InsightTest } from '@tidepool/sdk'
import { silentLogger } from '../core/log.js'
import { createInsightsService, type InsightsService } from '../insights/service.js'
import { replayOnline, scoreDetection } from '../insights/synthetic-score.js'
import { defaultSpec, generateHistory, type SyntheticRun, type SyntheticSpec } from '../insights/synthetic.js'
import { ManualClock, MemoryAudit } from '../insights/testing.js'
import { openStore } from '../store/db.js'
import { perRunnerMetrics } from './flaky-runners.js'
import { figure, machine, metric, type BenchResult, type Metric } from './result.js'

/** One variant, one run per commit, no CI re-runs, no in-run retries, no PRs: only flips across commits tell. */
export const crossCommitSpec: SyntheticSpec = {
  ...defaultSpec,
  seed: 1601,
  tests: 500,
  suites: 50,
  runs: 300,
  variants: [{ os: 'linux' }],
  flaky: { count: 50, minRate: 0.02, maxRate: 0.3 },
  coFailGroups: 2,
  broken: 16,
  quickFixes: 10,
  outages: { full: 4, partial: 4 },
  slowed: 0,
  prShare: 0,
  prBreakShare: 0,
  rerunRed: 0,
  inRunRetries: 0,
}

const seeds = [1601, 1602, 1603]

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-flaky-'))
  const metrics: Metric[] = []
  const log = (s: string) => process.stderr.write(`  ${s}\n`)
  const prec: number[] = []
  const rec: number[] = []
  const ftd: number[] = []
  const online: number[] = []
  let fixedAsFlaky = 0
  let fixedTotal = 0
  let brokenAsFlaky = 0
  let brokenFound = 0
  let brokenTotal = 0
  let crossOnly = 0
  const beforeRecall: number[] = []
  let detected = 0
  try {
    for (const seed of seeds) {
      const { runs, truth } = generateHistory({ ...crossCommitSpec, seed })
      const store = await openStore(`sqlite:${join(dir, `flaky-${seed}.db`)}`)
      try {
        const svc = createInsightsService({ config: { insights: {} as never }, store, clock: new ManualClock(), log: silentLogger, audit: new MemoryAudit() })
        for (const r of runs) {
          await svc.createRun('p', r.input)
          await svc.ingestJunit('p', r.input.id, Buffer.from(r.xml))
        }
        await svc.analyze('p', { full: true })
        const tests = await allTests(svc)
        const allRuns = []
        for (let tok: string | undefined; ;) {
          const page = await svc.listRuns('p', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
          allRuns.push(...page.items)
          if (!page.nextToken) break
          tok = page.nextToken
        }
        const history = failuresOf(runs)
        const s = scoreDetection(truth, tests, allRuns, (id) => history.get(id) ?? [])
        prec.push(s.precision)
        rec.push(s.recall)
        const status = new Map(tests.map((t) => [t.testId, t]))
        for (const t of tests) {
          if (t.status !== 'flaky' || !truth.flaky.has(t.testId) || !t.since) continue
          const since = Date.parse(t.since)
          ftd.push((history.get(t.testId) ?? []).filter((x) => x.at <= since && x.failed).length)
          detected++
          if (t.evidence.length === 1 && t.evidence[0] === 'cross_commit_flips') crossOnly++
        }
        fixedTotal += truth.fixed.size
        fixedAsFlaky += [...truth.fixed].filter((id) => status.get(id)?.status === 'flaky').length
        brokenTotal += truth.broken.size
        brokenAsFlaky += s.brokenAsFlaky
        brokenFound += s.brokenFound
        log(
          `seed ${seed}: precision ${s.precision.toFixed(3)} recall ${s.recall.toFixed(3)} (fp ${s.falsePositives.length}, fn ${s.falseNegatives.length}: rates ${s.falseNegatives.map((id) => truth.flaky.get(id)!.toFixed(3)).join(', ')}); outages flagged ${s.outagesFlagged}/${s.outages}`,
        )
        // Today's same-tree model alone (flips across commits switched off) on the same history, for comparison.
        const sameTreeOnly = createInsightsService({
          config: { insights: { flips: { minFlipEpisodes: 1_000_000 } } as never },
          store,
          clock: new ManualClock(),
          log: silentLogger,
          audit: new MemoryAudit(),
        })
        await sameTreeOnly.analyze('p', { full: true })
        beforeRecall.push(scoreDetection(truth, await allTests(sameTreeOnly), allRuns, () => []).recall)
        if (seed === seeds[0]) {
          // Online: the same history arriving run by run, analysed every 5 runs; failures seen until listed flaky.
          const store2 = await openStore(`sqlite:${join(dir, `online-${seed}.db`)}`)
          try {
            const svc2 = createInsightsService({ config: { insights: {} as never }, store: store2, clock: new ManualClock(), log: silentLogger, audit: new MemoryAudit() })
            const o = await replayOnline(svc2, 'p', runs, truth, 5)
            for (const [id, idx] of o.flakyDetectedAt) online.push(runs.slice(0, idx + 1).filter((r) => !r.outage && r.failed.includes(id)).length)
          } finally {
            await store2.close()
          }
        }
      } finally {
        await store.close()
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    metrics.push(figure('cross-commit flaky precision (3 histories, mean)', 'ratio', round(mean(prec)), { target: '≥ 0.97' }))
    metrics.push(figure('cross-commit flaky recall (3 histories, mean)', 'ratio', round(mean(rec)), { target: '≥ 0.9' }))
    metrics.push(figure('recall of the same-tree model alone (flips off), same histories', 'ratio', round(mean(beforeRecall))))
    metrics.push(metric('failures until a flaky test is detected', 'failures', ftd, { target: '≤ 4 p50' }))
    metrics.push(metric('failures until detected, online (analysis every 5 runs)', 'failures', online))
    metrics.push(figure('fixed tests (incl. quick reverts) called flaky', 'ratio', round(fixedAsFlaky / Math.max(1, fixedTotal)), { target: '0' }))
    metrics.push(figure('broken tests called flaky', 'ratio', round(brokenAsFlaky / Math.max(1, brokenTotal)), { target: '0' }))
    metrics.push(figure('broken tests labelled broken', 'ratio', round(brokenFound / Math.max(1, brokenTotal))))
    metrics.push(figure('detected flaky tests whose only evidence is flips across commits', 'ratio', round(crossOnly / Math.max(1, detected))))
    metrics.push(...perRunnerMetrics())
    return { name: 'flaky', at: new Date().toISOString(), machine: machine(), metrics }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function allTests(svc: InsightsService): Promise<InsightTest[]> {
  const tests: InsightTest[] = []
  for (let tok: string | undefined; ;) {
    const page = await svc.listTests('p', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
    tests.push(...page.items)
    if (!page.nextToken) break
    tok = page.nextToken
  }
  return tests
}

/** Per test: every run (outside outages) and whether it failed in it. */
function failuresOf(runs: readonly SyntheticRun[]): Map<string, { at: number; failed: boolean }[]> {
  const out = new Map<string, { at: number; failed: boolean }[]>()
  for (const r of runs) {
    if (r.outage) continue
    const at = Date.parse(r.input.startedAt!)
    for (const id of r.failed) {
      let l = out.get(id)
      if (!l) out.set(id, (l = []))
      l.push({ at, failed: true })
    }
  }
  return out
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
