/**
 * The feedback loop on PostgreSQL: the same service over a real PostgreSQL store, which takes the Kysely paths
 * (batched inserts, index range scans) instead of the SQLite fast paths.
 */
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RecordingActions } from '../../src/insights/actions.js'
import { testInsights, type TestInsights } from '../../src/insights/testing.js'
import { dataSkip, startTestPg, storeDatabase, type TestPg } from './support/data-pg.js'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')
function report(cases: { name: string; fail?: string; ms?: number }[]): string {
  return `<testsuites name="vitest tests"><testsuite name="src/app.test.ts">${cases
    .map(
      (c) =>
        `<testcase classname="src/app.test.ts" name="${esc(c.name)}" time="${((c.ms ?? 50) / 1000).toFixed(3)}">${c.fail ? `<failure message="${esc(c.fail)}" type="Error">${esc(c.fail)}</failure>` : ''}</testcase>`,
    )
    .join('')}</testsuite></testsuites>`
}

describe.skipIf(Boolean(dataSkip))(`insights on PostgreSQL${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let pg: TestPg
  let t: TestInsights
  beforeAll(async () => {
    pg = await startTestPg('insights')
    t = await testInsights({ url: await storeDatabase(pg, 'insights'), actions: new RecordingActions() })
  })
  afterAll(async () => {
    await t?.close()
    await pg?.stop()
  })

  it('ingests, analyses, triages, remediates and reports KPIs', async () => {
    expect(t.store.dialect).toBe('postgres')
    await t.svc.putSettings('p', { mode: 'auto', quarantineOwner: 'team' })
    const healthy = Array.from({ length: 30 }, (_, i) => ({ name: `case ${i}`, ms: 40 + (i % 3) }))
    for (let i = 0; i < 30; i++) {
      t.clock.advance(60_000)
      const flakyFails = i % 5 === 2
      const cases = [
        ...healthy,
        { name: 'flaky', ...(flakyFails ? { fail: `Timeout of ${2000 + i}ms exceeded` } : {}) },
        { name: 'broken', ...(i >= 25 ? { fail: 'expected 200, got 500' } : {}) },
        { name: 'slow', ms: i >= 18 ? 400 + (i % 4) : 200 + (i % 4) },
      ]
      await t.svc.createRun('p', { id: `r${i}`, commit: `c${i}`, branch: 'main', attempt: 1, variant: { os: 'linux' }, infra: { queueMs: 1000 + i } })
      const body = Buffer.from(report(cases))
      const res = await t.svc.ingestJunit('p', `r${i}`, i % 2 ? gzipSync(body) : body, { name: 'unit.xml' })
      expect(res.errors).toEqual([])
      if (flakyFails) {
        await t.svc.createRun('p', { id: `r${i}b`, commit: `c${i}`, branch: 'main', attempt: 2, variant: { os: 'linux' } })
        await t.svc.ingestJunit(
          'p',
          `r${i}b`,
          Buffer.from(report([...healthy, { name: 'flaky' }, { name: 'broken', ...(i >= 25 ? { fail: 'expected 200, got 500' } : {}) }, { name: 'slow', ms: i >= 18 ? 400 : 200 }])),
          { name: 'unit.xml' },
        )
      }
    }
    // idempotent re-upload and replacement on PostgreSQL too
    expect((await t.svc.ingestJunit('p', 'r0', Buffer.from(report([...healthy, { name: 'flaky' }, { name: 'broken' }, { name: 'slow', ms: 200 }])), { name: 'unit.xml' })).duplicate).toBe(true)
    expect((await t.svc.ingestJunit('p', 'r0', Buffer.from(report(healthy)), { name: 'unit.xml' })).replaced).toBe(true)

    expect((await t.svc.listTests('p', { status: 'flaky', limit: 10 })).items.map((x) => x.name)).toEqual(['flaky'])
    expect((await t.svc.listTests('p', { status: 'broken', limit: 10 })).items.map((x) => x.name)).toEqual(['broken'])
    const slow = (await t.svc.listAnomalies('p', { type: 'regression', kind: 'test', limit: 10 })).items
    expect(slow.map((a) => a.changePoint?.commit)).toEqual(['c18'])
    const id = (await t.svc.listTests('p', { q: 'flaky', limit: 1 })).items[0]!.testId
    const h = await t.svc.testHistory('p', { testId: id, limit: 5 })
    expect(h.items.map((e) => e.runId)).toEqual(['r29', 'r28', 'r27b', 'r27', 'r26'])
    const sigs = await t.svc.listSignatures('p', { limit: 10 })
    expect(sigs.items.map((s) => s.count).sort()).toEqual([6, 6])

    t.clock.advance(60_000)
    await t.svc.createRun('p', { id: 'red', commit: 'c30', branch: 'main', attempt: 1, variant: { os: 'linux' } })
    await t.svc.ingestJunit('p', 'red', Buffer.from(report([...healthy, { name: 'flaky', fail: 'Timeout of 2500ms exceeded' }, { name: 'broken' }, { name: 'slow', ms: 400 }])))
    const fin = await t.svc.finishRun('p', 'red')
    expect(Object.fromEntries(fin.remediations.map((r) => [r.kind, r.status]))).toMatchObject({ rerun: 'applied', quarantine: 'applied' })
    // The applied rerun is a pending request (on PostgreSQL too) until a run of the requested attempt answers it.
    const rerun = fin.remediations.find((r) => r.kind === 'rerun')!
    expect((await t.svc.listRerunRequests('p', { limit: 10 })).items).toEqual([expect.objectContaining({ remediationId: rerun.id, runId: 'red', attempt: 2 })])
    const tri = await t.svc.triage('p', 'red')
    expect(tri.failures[0]).toMatchObject({ name: 'flaky', class: 'known_flaky' })
    const k = await t.svc.kpis('p', '7d')
    expect(k.runs).toBe(37) // 30 first attempts, 6 re-runs, the red one
    expect(k.queueMs.n).toBe(30)
    expect(k.tests).toMatchObject({ flaky: 1, quarantined: 1 })
    const full = await t.svc.analyze('p', { full: true })
    expect(full.tests).toBe(33)
    expect(t.audit.entries.filter((e) => e.action === 'insights.remediation.decide').length).toBeGreaterThanOrEqual(2)
  })
})
