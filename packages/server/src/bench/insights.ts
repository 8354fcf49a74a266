/** @module bench/insights — ingest of 1,000,000 JUnit results, full re-analysis, test-history query latency, flaky detection quality. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../core/log.js'
import { createInsightsService } from '../insights/service.js'
import { replayOnline, scoreDetection } from '../insights/synthetic-score.js'
import { defaultSpec, generateHistory, type SyntheticSpec } from '../insights/synthetic.js'
import { ManualClock, MemoryAudit } from '../insights/testing.js'
import { openStore } from '../store/db.js'
import { figure, machine, metric, type BenchResult, type Metric } from './result.js'

/** 2,500 tests × 400 runs = 1,000,000 results, with flaky, co-failing, broken and slowed tests and outages. */
const bigSpec: SyntheticSpec = {
  ...defaultSpec,
  seed: 2026,
  tests: 2500,
  suites: 250,
  runs: 400,
  flaky: { count: 100, minRate: 0.03, maxRate: 0.3 },
  coFailGroups: 5,
  broken: 10,
  outages: { full: 4, partial: 4 },
  slowed: 3,
}

const historySamples = 300

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-insights-'))
  const metrics: Metric[] = []
  const log = (s: string) => process.stderr.write(`  ${s}\n`)
  try {
    log('generating 1,000,000 results …')
    const { runs, truth } = generateHistory(bigSpec)
    const bodies = runs.map((r) => Buffer.from(r.xml))
    const total = runs.reduce((a, r) => a + r.results, 0)

    const store = await openStore(`sqlite:${join(dir, 'insights.db')}`)
    // The analysis window covers the whole history, so "full re-analysis" reads all 1M results.
    const svc = createInsightsService({ config: { insights: { historyRuns: 500 } as never }, store, clock: new ManualClock(), log: silentLogger, audit: new MemoryAudit() })
    try {
      // Warm-up: a separate project, so the measured one starts empty.
      for (let i = 0; i < 5; i++) {
        await svc.createRun('warmup', runs[i]!.input)
        await svc.ingestJunit('warmup', runs[i]!.input.id, bodies[i]!)
      }
      log(`ingesting ${total.toLocaleString('en-US')} results in ${runs.length} reports …`)
      const perFile: number[] = []
      const started = performance.now()
      for (let i = 0; i < runs.length; i++) {
        const t0 = performance.now()
        await svc.createRun('bench', runs[i]!.input)
        await svc.ingestJunit('bench', runs[i]!.input.id, bodies[i]!)
        perFile.push(runs[i]!.results / ((performance.now() - t0) / 1000))
      }
      const ingestS = (performance.now() - started) / 1000
      metrics.push(figure('ingest: results per second (1M results, overall)', 'results/s', Math.round(total / ingestS), { target: '≥ 50000' }))
      metrics.push(metric('ingest: results per second per report (2,500 results)', 'results/s', perFile.map(Math.round), { target: '≥ 50000' }))

      log('full re-analysis …')
      const analysis: number[] = []
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now()
        const r = await svc.analyze('bench', { full: true })
        analysis.push((performance.now() - t0) / 1000)
        if (r.results !== total) throw new Error(`analysis saw ${r.results} results, expected ${total}`)
      }
      metrics.push(metric('full re-analysis of 1M results', 's', analysis, { target: '≤ 20' }))

      log('test history queries …')
      const testIds: string[] = []
      for (let tok: string | undefined; ;) {
        const page = await svc.listTests('bench', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
        testIds.push(...page.items.map((t) => t.testId))
        if (!page.nextToken) break
        tok = page.nextToken
      }
      if (testIds.length !== bigSpec.tests) throw new Error(`expected ${bigSpec.tests} tests, found ${testIds.length}`)
      for (let i = 0; i < 20; i++) await svc.testHistory('bench', { testId: testIds[i]!, limit: 100 })
      const q: number[] = []
      for (let i = 0; i < historySamples; i++) {
        const id = testIds[(i * 7919) % testIds.length]!
        const t0 = performance.now()
        await svc.testHistory('bench', { testId: id, limit: 100 })
        q.push(performance.now() - t0)
      }
      metrics.push(metric('test history query (100 newest runs)', 'ms', q, { target: '≤ 10 p50' }))

      log('flaky detection quality …')
      const tests = []
      for (let tok: string | undefined; ;) {
        const page = await svc.listTests('bench', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
        tests.push(...page.items)
        if (!page.nextToken) break
        tok = page.nextToken
      }
      const allRuns = []
      for (let tok: string | undefined; ;) {
        const page = await svc.listRuns('bench', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
        allRuns.push(...page.items)
        if (!page.nextToken) break
        tok = page.nextToken
      }
      const s = scoreDetection(truth, tests, allRuns, () => [])
      metrics.push(figure('flaky detection precision (outages injected)', 'ratio', round(s.precision), { target: '≥ 0.95' }))
      metrics.push(figure('flaky detection recall (outages injected)', 'ratio', round(s.recall), { target: '≥ 0.9' }))
      metrics.push(figure('outage runs flagged as infrastructure suspects', 'ratio', round(s.outagesFlagged / Math.max(1, s.outages))))
      metrics.push(figure('non-outage runs flagged as infrastructure suspects', 'ratio', round(s.falseOutages / Math.max(1, runs.length - s.outages))))
      metrics.push(figure('broken tests labelled broken', 'ratio', round(s.brokenFound / Math.max(1, truth.broken.size))))
      log(`precision ${s.precision.toFixed(3)} recall ${s.recall.toFixed(3)}; false positives ${s.falsePositives.length}, misses ${s.falseNegatives.length}`)
    } finally {
      await store.close()
    }

    log('time to detect (online replay, analysis every 10 runs) …')
    const online = await openStore(`sqlite:${join(dir, 'online.db')}`)
    try {
      const svc = createInsightsService({ config: { insights: {} as never }, store: online, clock: new ManualClock(), log: silentLogger, audit: new MemoryAudit() })
      const small = generateHistory({ ...defaultSpec, seed: 11 })
      const r = await replayOnline(svc, 'online', small.runs, small.truth, 10)
      metrics.push(metric('time to detect a flaky test (runs after its first failure)', 'runs', r.runsAfterFirstFailure))
      metrics.push(figure('flaky tests detected online by the end', 'ratio', round(r.flakyDetectedAt.size / small.truth.flaky.size)))
      if (r.slowdownRuns.length) metrics.push(metric('time to detect a 2× slowdown (runs after the change)', 'runs', r.slowdownRuns))
    } finally {
      await online.close()
    }
    return { name: 'insights', at: new Date().toISOString(), machine: machine(), metrics }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
