import { describe, expect, it } from 'vitest'
import { quantile } from './stats.js'
import { replayOnline, scoreDetection } from './synthetic-score.js'
import { defaultSpec, generateHistory, type SyntheticSpec } from './synthetic.js'
import { testInsights } from './testing.js'

describe('synthetic history with known ground truth', () => {
  it('is deterministic for a seed', () => {
    const a = generateHistory({ ...defaultSpec, runs: 30 })
    const b = generateHistory({ ...defaultSpec, runs: 30 })
    expect(a.runs.map((r) => r.xml)).toEqual(b.runs.map((r) => r.xml))
    expect([...a.truth.flaky]).toEqual([...b.truth.flaky])
  })

  it('flaky detection: precision ≥ 0.95 and recall ≥ 0.9 with outages injected; broken ≠ flaky; outages flagged', async () => {
    const t = await testInsights()
    const { runs, truth } = generateHistory(defaultSpec)
    for (const run of runs) {
      await t.svc.createRun('p', run.input)
      await t.svc.ingestJunit('p', run.input.id, Buffer.from(run.xml))
    }
    await t.svc.analyze('p', { full: true })
    const tests = []
    for (let tok: string | undefined; ;) {
      const page = await t.svc.listTests('p', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
      tests.push(...page.items)
      if (!page.nextToken) break
      tok = page.nextToken
    }
    const allRuns = []
    for (let tok: string | undefined; ;) {
      const page = await t.svc.listRuns('p', { limit: 1000, ...(tok ? { nextToken: tok } : {}) })
      allRuns.push(...page.items)
      if (!page.nextToken) break
      tok = page.nextToken
    }
    const s = scoreDetection(truth, tests, allRuns, () => [])
    console.log(
      `synthetic (${defaultSpec.tests} tests × ${runs.length} runs, ${truth.flaky.size} flaky, ${truth.outageRuns.size} outage runs): precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}, outages flagged ${s.outagesFlagged}/${s.outages}, false outage flags ${s.falseOutages}`,
    )
    expect(s.precision).toBeGreaterThanOrEqual(0.95)
    expect(s.recall).toBeGreaterThanOrEqual(0.9)
    expect(s.brokenAsFlaky).toBe(0)
    expect(s.brokenFound).toBe(truth.broken.size)
    expect(s.outagesFlagged).toBe(s.outages)
    expect(s.falseOutages).toBeLessThanOrEqual(Math.ceil(0.02 * runs.length))
    // PR-only breakages are never called flaky
    for (const id of truth.prBroken) expect(tests.find((x) => x.testId === id)?.status).not.toBe('flaky')
    // the slowed test's regression is attributed to the commit that slowed it
    for (const sl of truth.slowed) {
      const an = await t.svc.listAnomalies('p', { kind: 'test', type: 'regression', subject: sl.testId, limit: 10 })
      expect(an.items.map((a) => a.changePoint?.commit)).toContain(sl.commit)
    }
    await t.close()
  })

  it('time to detect, online: incremental analysis while the history arrives', async () => {
    const spec: SyntheticSpec = {
      ...defaultSpec,
      seed: 7,
      tests: 120,
      suites: 12,
      runs: 240,
      flaky: { count: 10, minRate: 0.05, maxRate: 0.3 },
      coFailGroups: 1,
      broken: 2,
      outages: { full: 2, partial: 2 },
    }
    const t = await testInsights()
    const { runs, truth } = generateHistory(spec)
    const online = await replayOnline(t.svc, 'p', runs, truth, 5)
    const ttd = online.runsAfterFirstFailure
    console.log(
      `time to detect (online, analysis every 5 runs): flaky p50 ${quantile(ttd, 0.5)} / p90 ${quantile(ttd, 0.9)} runs after the first failure (${online.flakyDetectedAt.size}/${truth.flaky.size} detected); slowdown ${online.slowdownRuns.join(', ')} runs`,
    )
    expect(online.flakyDetectedAt.size / truth.flaky.size).toBeGreaterThanOrEqual(0.9)
    expect(quantile(ttd, 0.5)).toBeLessThanOrEqual(10)
    expect(online.slowdownRuns).toHaveLength(truth.slowed.length)
    await t.close()
  })

  it('flaky across commits: every run a new commit, no retries anywhere; breaks, fixes and quick reverts are never flaky', async () => {
    const spec: SyntheticSpec = {
      ...defaultSpec,
      seed: 5,
      tests: 150,
      suites: 15,
      runs: 200,
      variants: [{ os: 'linux' }],
      flaky: { count: 15, minRate: 0.05, maxRate: 0.3 },
      coFailGroups: 1,
      broken: 6,
      quickFixes: 6,
      outages: { full: 2, partial: 2 },
      slowed: 0,
      prShare: 0,
      rerunRed: 0,
      inRunRetries: 0,
    }
    const t = await testInsights()
    const { runs, truth } = generateHistory(spec)
    for (const run of runs) {
      await t.svc.createRun('p', run.input)
      await t.svc.ingestJunit('p', run.input.id, Buffer.from(run.xml))
    }
    await t.svc.analyze('p', { full: true })
    const tests = (await t.svc.listTests('p', { limit: 1000 })).items
    const s = scoreDetection(truth, tests, (await t.svc.listRuns('p', { limit: 1000 })).items, () => [])
    console.log(`cross-commit synthetic (${spec.tests} tests × ${runs.length} commits, ${truth.flaky.size} flaky): precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}`)
    expect(s.precision).toBeGreaterThanOrEqual(0.95)
    expect(s.recall).toBeGreaterThanOrEqual(0.85)
    expect(s.brokenAsFlaky).toBe(0)
    for (const id of truth.fixed) expect(tests.find((x) => x.testId === id)?.status).not.toBe('flaky')
    const found = tests.filter((x) => x.status === 'flaky')
    expect(found.every((x) => x.evidence.includes('cross_commit_flips') && x.flips >= 2)).toBe(true)
    await t.close()
  })
})
