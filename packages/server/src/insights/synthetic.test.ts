import { describe, expect, it } from 'vitest'
import { defaultSpec, generateHistory, scoreDetection } from './synthetic.js'
import { testInsights } from './testing.js'

describe('synthetic history', () => {
  it('detects flaky tests with high precision and recall, broken ≠ flaky, outages excluded', async () => {
    const t = await testInsights()
    const { runs, truth } = generateHistory(defaultSpec)
    const t0 = performance.now()
    for (const run of runs) {
      await t.svc.createRun('p', run.input)
      await t.svc.ingestJunit('p', run.input.id, Buffer.from(run.xml))
    }
    const t1 = performance.now()
    const a = await t.svc.analyze('p', { full: true })
    const t2 = performance.now()
    const tests = []
    for (let tok: string | undefined; ; ) {
      const page = await t.svc.listTests('p', { limit: 1000, nextToken: tok })
      tests.push(...page.items)
      if (!page.nextToken) break
      tok = page.nextToken
    }
    const allRuns = []
    for (let tok: string | undefined; ; ) {
      const page = await t.svc.listRuns('p', { limit: 1000, nextToken: tok })
      allRuns.push(...page.items)
      if (!page.nextToken) break
      tok = page.nextToken
    }
    const hist = new Map<string, { at: number; failed: boolean }[]>()
    for (const id of truth.flaky.keys()) {
      const h = await t.svc.testHistory('p', { testId: id, limit: 1000 })
      hist.set(id, h.items.filter((x) => !x.infraSuspect).map((x) => ({ at: Date.parse(x.at), failed: x.failedAttempts > 0 })))
    }
    const s = scoreDetection(truth, tests, allRuns, (id) => hist.get(id) ?? [])
    console.log({ ingestMs: t1 - t0, analyze: a, analyzeMs: t2 - t1, ...s, flakyTruth: truth.flaky.size, broken: truth.broken.size })
    const fpDetail = s.falsePositives.map((id) => tests.find((x) => x.testId === id))
    console.log(JSON.stringify(fpDetail, null, 1))
    const fnDetail = s.falseNegatives.map((id) => ({ ...tests.find((x) => x.testId === id), rate: truth.flaky.get(id) }))
    console.log(JSON.stringify(fnDetail, null, 1))
    console.log(await t.svc.listAnomalies('p', { limit: 20, type: 'regression' }), truth.slowed)
    expect(s.precision).toBeGreaterThanOrEqual(0.95)
    expect(s.recall).toBeGreaterThanOrEqual(0.9)
    await t.close()
  })
})
