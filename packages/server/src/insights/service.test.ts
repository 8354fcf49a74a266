import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { RecordingActions } from './actions.js'
import { testInsights, type TestInsights } from './testing.js'

type Case = { name: string; fail?: string; time?: number; skip?: boolean; flaky?: string }
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')
function xml(cases: Case[], suite = 'src/cart.test.ts'): string {
  const body = cases
    .map((c) => {
      const t = `time="${((c.time ?? 100) / 1000).toFixed(3)}"`
      if (c.skip) return `<testcase classname="${suite}" name="${esc(c.name)}" ${t}><skipped/></testcase>`
      if (c.fail) return `<testcase classname="${suite}" name="${esc(c.name)}" ${t}><failure message="${esc(c.fail)}" type="Error">${esc(c.fail)}\n    at ${suite}:1:1</failure></testcase>`
      if (c.flaky)
        return `<testcase classname="${suite}" name="${esc(c.name)}" ${t}><flakyFailure message="${esc(c.flaky)}" type="Error"><stackTrace>${esc(c.flaky)}</stackTrace></flakyFailure></testcase>`
      return `<testcase classname="${suite}" name="${esc(c.name)}" ${t}/>`
    })
    .join('')
  return `<?xml version="1.0"?><testsuites name="vitest tests"><testsuite name="${suite}">${body}</testsuite></testsuites>`
}

let t: TestInsights
afterEach(async () => {
  await t?.close()
})

async function runWith(p: string, id: string, run: { commit: string; branch?: string; attempt?: number; tree?: string; pr?: string; infra?: Record<string, unknown> }, cases: Case[]) {
  t.clock.advance(60_000)
  await t.svc.createRun(p, {
    id,
    commit: run.commit,
    branch: run.branch ?? 'main',
    attempt: run.attempt ?? 1,
    variant: { os: 'linux' },
    ...(run.tree ? { tree: run.tree } : {}),
    ...(run.pr ? { pr: run.pr } : {}),
    ...(run.infra ? { infra: run.infra } : {}),
  })
  return t.svc.ingestJunit(p, id, Buffer.from(xml(cases)), { name: 'report.xml' })
}
const healthy = (n: number): Case[] => Array.from({ length: n }, (_, i) => ({ name: `ok ${i}` }))

describe('ingest', () => {
  it('creating a run is idempotent on its id; different fields conflict', async () => {
    t = await testInsights()
    const a = await t.svc.createRun('p', { id: 'ci-1', commit: 'c1', branch: 'main', attempt: 1, variant: { os: 'linux' } })
    const b = await t.svc.createRun('p', { id: 'ci-1', commit: 'c1', branch: 'main', attempt: 1, variant: { os: 'linux' } })
    expect(b).toEqual(a)
    await expect(t.svc.createRun('p', { id: 'ci-1', commit: 'c2', branch: 'main', attempt: 1, variant: {} })).rejects.toMatchObject({ code: 'conflict' })
    await expect(t.svc.createRun('p', { commit: 'c', branch: 'main', attempt: 1, variant: {}, startedAt: 'yesterday' })).rejects.toMatchObject({ code: 'invalid_request' })
    const gen = await t.svc.createRun('p', { commit: 'c', branch: 'main', attempt: 1, variant: {} })
    expect(gen.id).toMatch(/^run_/)
  })

  it('the same report twice changes nothing; a new version under the same name replaces it; gzip is accepted', async () => {
    t = await testInsights()
    await t.svc.createRun('p', { id: 'r1', commit: 'c1', branch: 'main', attempt: 1, variant: {} })
    const body = Buffer.from(xml([{ name: 'a' }, { name: 'b', fail: 'boom' }]))
    const first = await t.svc.ingestJunit('p', 'r1', body, { name: 'unit.xml' })
    expect(first).toMatchObject({ tests: 2, failures: 1, duplicate: false, replaced: false, errors: [] })
    const again = await t.svc.ingestJunit('p', 'r1', body, { name: 'unit.xml' })
    expect(again).toMatchObject({ tests: 2, failures: 1, duplicate: true })
    expect((await t.svc.getRun('p', 'r1')).summary).toMatchObject({ tests: 2, failed: 1, files: 1 })
    const fixed = await t.svc.ingestJunit('p', 'r1', gzipSync(xml([{ name: 'a' }, { name: 'b' }])), { name: 'unit.xml' })
    expect(fixed).toMatchObject({ tests: 2, failures: 0, replaced: true })
    const run = await t.svc.getRun('p', 'r1')
    expect(run).toMatchObject({ outcome: 'green', summary: { tests: 2, failed: 0, files: 1 } })
    // Unnamed uploads are keyed by content: same bytes again are a duplicate.
    const other = Buffer.from(xml([{ name: 'c' }], 'src/other.test.ts'))
    expect((await t.svc.ingestJunit('p', 'r1', other)).duplicate).toBe(false)
    expect((await t.svc.ingestJunit('p', 'r1', other)).duplicate).toBe(true)
    expect((await t.svc.getRun('p', 'r1')).summary).toMatchObject({ tests: 3, files: 2 })
  })

  it('a broken or missing report makes the run incomplete, never green', async () => {
    t = await testInsights({ insights: { maxJunitBytes: 4096 } })
    await t.svc.createRun('p', { id: 'r1', commit: 'c1', branch: 'main', attempt: 1, variant: {} })
    await t.svc.ingestJunit('p', 'r1', Buffer.from(xml([{ name: 'a' }])), { name: 'good.xml' })
    const cut = await t.svc.ingestJunit('p', 'r1', Buffer.from(xml([{ name: 'b' }, { name: 'c' }]).slice(0, 150)), { name: 'cut.xml' })
    expect(cut.errors[0]?.kind).toBe('truncated')
    const corrupt = await t.svc.ingestJunit('p', 'r1', Buffer.from([0x1f, 0x8b, 1, 2, 3]), { name: 'bad.xml.gz' })
    expect(corrupt.errors[0]?.kind).toBe('unreadable')
    const bomb = await t.svc.ingestJunit('p', 'r1', gzipSync(Buffer.alloc(100_000, 32)), { name: 'bomb.xml.gz' })
    expect(bomb.errors[0]?.kind).toBe('too_large')
    const run = await t.svc.getRun('p', 'r1')
    expect(run.outcome).toBe('incomplete')
    expect(run.summary).toMatchObject({ files: 4, fileErrors: 3 })
    const tri = await t.svc.triage('p', 'r1')
    expect(tri.verdict).toBe('incomplete')
    expect(tri.problems.map((x) => x.kind).sort()).toEqual(['too_large', 'truncated', 'unreadable'])
    expect(tri.markdown).toContain('### Missing data')
  })

  it('unknown runs are 404 with a hint; events are stored and feed triage', async () => {
    t = await testInsights()
    await expect(t.svc.ingestJunit('p', 'nope', Buffer.from('<testsuite/>'))).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('POST /v1/runs') })
    await runWith('p', 'r1', { commit: 'c1', branch: 'feature/x', infra: { sandboxId: 'sbx_abc123def456' } }, [...healthy(20), { name: 'heavy', fail: 'JavaScript heap out of memory' }])
    const ev = await t.svc.ingestEvents('p', 'r1', [
      { kind: 'infra_sample', infra_metrics: { memoryPct: 99, oomKills: 1 } },
      { kind: 'test_failed', test_id: 'heavy', logs_url: 'https://ci.example/logs/1', snapshot_url: 'https://ci.example/snap/1' },
    ])
    expect(ev).toEqual({ runId: 'r1', accepted: 2 })
    const tri = await t.svc.triage('p', 'r1')
    expect(tri.failures[0]).toMatchObject({ name: 'heavy', class: 'infrastructure', logsUrl: 'https://ci.example/logs/1' })
    expect(tri.failures[0]!.evidence.map((e) => e.kind)).toContain('resource_saturation')
  })

  it('keeps projects apart', async () => {
    t = await testInsights()
    await runWith('a', 'r1', { commit: 'c1' }, [{ name: 'x', fail: 'boom' }])
    expect((await t.svc.listTests('b', { limit: 10 })).items).toEqual([])
    await expect(t.svc.getRun('b', 'r1')).rejects.toMatchObject({ code: 'not_found' })
    await expect(t.svc.triage('b', 'r1')).rejects.toMatchObject({ code: 'not_found' })
    expect((await t.svc.listSignatures('b', { limit: 10 })).items).toEqual([])
    // the same run id in another project is another run
    await runWith('b', 'r1', { commit: 'other' }, [{ name: 'y' }])
    expect((await t.svc.getRun('a', 'r1')).commit).toBe('c1')
  })
})

describe('analysis through the service', () => {
  it('flaky, broken and healthy tests; history newest first; signatures grouped', async () => {
    t = await testInsights()
    for (let i = 0; i < 12; i++) {
      const commit = `c${i}`
      const cases: Case[] = [
        ...healthy(10),
        { name: 'flaky', ...(i % 4 === 1 ? { fail: `Timeout of ${1000 + i}ms exceeded` } : {}) },
        { name: 'broken', ...(i >= 8 ? { fail: 'expected 200 got 500' } : {}) },
      ]
      await runWith('p', `r${i}`, { commit }, cases)
      if (i % 4 === 1) await runWith('p', `r${i}b`, { commit, attempt: 2 }, [...healthy(10), { name: 'flaky' }, { name: 'broken', ...(i >= 8 ? { fail: 'expected 200 got 500' } : {}) }])
    }
    const flaky = await t.svc.listTests('p', { status: 'flaky', limit: 10 })
    expect(flaky.items.map((x) => x.name)).toEqual(['flaky'])
    expect(flaky.items[0]).toMatchObject({ tier: 'confirmed', flakyEvidence: 3, failures: 3 })
    expect(flaky.items[0]!.interval[0]).toBeLessThan(flaky.items[0]!.score)
    const broken = await t.svc.listTests('p', { status: 'broken', limit: 10 })
    expect(broken.items.map((x) => x.name)).toEqual(['broken'])
    expect(broken.items[0]!.failStreak).toBe(5) // c8, c9, its re-run, c10, c11
    const page = await t.svc.listTests('p', { status: 'healthy', limit: 4 })
    expect(page.items).toHaveLength(4)
    expect(page.nextToken).toBeDefined()
    const rest = await t.svc.listTests('p', { status: 'healthy', limit: 100, nextToken: page.nextToken })
    expect(rest.items).toHaveLength(6)
    expect((await t.svc.listTests('p', { q: 'brok', limit: 10 })).items.map((x) => x.name)).toEqual(['broken'])

    const h = await t.svc.testHistory('p', { testId: flaky.items[0]!.testId, limit: 5 })
    expect(h.items).toHaveLength(5)
    expect(h.items[0]!.runId).toBe('r11')
    expect(Date.parse(h.items[0]!.at)).toBeGreaterThan(Date.parse(h.items[1]!.at))
    await expect(t.svc.testHistory('p', { testId: 't_nope', limit: 5 })).rejects.toMatchObject({ code: 'not_found' })

    const sigs = await t.svc.listSignatures('p', { limit: 10 })
    expect(sigs.items[0]).toMatchObject({ count: 5, tests: 1, runs: 5, text: 'Error | expected <n> got <n>' })
    expect(sigs.items[1]).toMatchObject({ count: 3, text: 'Error | Timeout of <n>ms exceeded' })
  })

  it("failures on commits that changed the test's file are explained by the change, not flaky across commits", async () => {
    t = await testInsights()
    const report = (fail: boolean) =>
      `<testsuites><testsuite name="cart"><testcase classname="cart" name="totals" file="src/cart.test.ts" time="0.1">${fail ? '<failure message="expected 3 got 4">expected 3 got 4</failure>' : ''}</testcase>${healthy(
        5,
      )
        .map((c) => `<testcase classname="cart" name="${c.name}" file="src/cart.test.ts" time="0.1"/>`)
        .join('')}</testsuite></testsuites>`
    const failing = new Set([0, 3, 10, 13])
    for (const p of ['told', 'untold']) {
      for (let i = 0; i < 20; i++) {
        t.clock.advance(60_000)
        const fail = failing.has(i)
        // In "told" each failing commit changed the test's file (and its next commit changed it back).
        const changedFiles = p === 'told' && (fail || failing.has(i - 1)) ? ['packages/shop/src/cart.test.ts'] : ['README.md']
        await t.svc.createRun(p, { id: `r${i}`, commit: `c${i}`, branch: 'main', attempt: 1, variant: {}, changedFiles })
        await t.svc.ingestJunit(p, `r${i}`, Buffer.from(report(fail)), { name: 'report.xml' })
      }
    }
    const flakyUntold = await t.svc.listTests('untold', { status: 'flaky', limit: 10 })
    expect(flakyUntold.items.map((x) => x.name)).toEqual(['totals'])
    const flakyTold = await t.svc.listTests('told', { status: 'flaky', limit: 10 })
    expect(flakyTold.items).toEqual([])
  })

  it('a run where most tests fail is an infrastructure suspect: excluded from scores, reported', async () => {
    t = await testInsights()
    for (let i = 0; i < 5; i++) await runWith('p', `r${i}`, { commit: `c${i}` }, healthy(10))
    await runWith(
      'p',
      'outage',
      { commit: 'c5' },
      healthy(10).map((c, i) => (i < 6 ? { ...c, fail: `connect ECONNREFUSED 10.0.0.${i}:5432` } : c)),
    )
    await runWith('p', 'outage-rerun', { commit: 'c5', attempt: 2 }, healthy(10))
    const run = await t.svc.getRun('p', 'outage')
    expect(run).toMatchObject({ infraSuspect: true, infraReason: '6 of 10 tests failed (60% ≥ 30%)' })
    expect((await t.svc.listTests('p', { status: 'flaky', limit: 10 })).items).toEqual([])
    const tri = await t.svc.triage('p', 'outage')
    expect(tri.verdict).toBe('infrastructure')
    expect(tri.groups).toEqual([{ cause: expect.stringContaining('connect ECONNREFUSED <ip>'), tests: expect.any(Array) }])
    expect(tri.markdown).toContain('Suspected infrastructure outage')
    const h = await t.svc.testHistory('p', { testId: tri.failures[0]!.testId, limit: 3 })
    expect(h.items.find((x) => x.runId === 'outage')?.infraSuspect).toBe(true)
  })

  it('duration regression attributed to the commit that slowed the test', async () => {
    t = await testInsights()
    for (let i = 0; i < 40; i++) {
      const slow = i >= 28
      await runWith('p', `r${i}`, { commit: `c${i}` }, [{ name: 'query', time: (slow ? 400 : 200) + (i % 5) * 3 }, ...healthy(3)])
    }
    const an = await t.svc.listAnomalies('p', { type: 'regression', kind: 'test', limit: 10 })
    expect(an.items).toHaveLength(1)
    expect(an.items[0]).toMatchObject({ label: 'src/cart.test.ts › query [os=linux]', changePoint: { runId: 'r28', commit: 'c28' } })
    expect(an.items[0]!.ratio).toBeGreaterThan(1.8)
    const suites = await t.svc.listAnomalies('p', { kind: 'suite', type: 'regression', limit: 10 })
    expect(suites.items[0]?.changePoint?.commit).toBe('c28')
    const tri = await t.svc.triage('p', 'r28')
    expect(tri.anomalies.map((a) => a.kind).sort()).toEqual(['suite', 'test'])
    expect(tri.markdown).toContain('### Slower since this change')
  })

  it('co-failing tests form a cluster and are reported as one cause', async () => {
    t = await testInsights()
    for (let i = 0; i < 12; i++) {
      const together = i % 3 === 0
      const cases: Case[] = [...healthy(8), { name: 'cache a', ...(together ? { fail: 'cache race' } : {}) }, { name: 'cache b', ...(together ? { fail: 'cache race 2nd' } : {}) }]
      await runWith('p', `r${i}`, { commit: `c${i}`, branch: 'dev' }, cases)
    }
    const cs = await t.svc.listClusters('p')
    expect(cs.items).toHaveLength(1)
    expect(cs.items[0]!.tests.map((x) => x.name).sort()).toEqual(['src/cart.test.ts › cache a', 'src/cart.test.ts › cache b'])
    const tri = await t.svc.triage('p', 'r9')
    expect(tri.groups[0]).toMatchObject({ cause: `co-failing cluster ${cs.items[0]!.id}` })
  })
})

describe('triage', () => {
  it('ranks causes per failing test and renders deterministic Markdown', async () => {
    t = await testInsights()
    for (let i = 0; i < 6; i++) await runWith('p', `m${i}`, { commit: `m${i}` }, [...healthy(20), { name: 'on main too', ...(i >= 4 ? { fail: 'db schema mismatch' } : {}) }])
    await runWith('p', 'pr1', { commit: 'p1', branch: 'feature/a', pr: '7' }, [...healthy(20), { name: 'on main too', fail: 'db schema mismatch' }])
    await runWith('p', 'pr2', { commit: 'p2', branch: 'feature/a', pr: '7' }, [
      ...healthy(19),
      { name: 'ok 19', fail: 'TypeError: total is not a function' },
      { name: 'on main too', fail: 'db schema mismatch' },
    ])
    const a = await t.svc.triage('p', 'pr2')
    const b = await t.svc.triage('p', 'pr2')
    expect(a.markdown).toBe(b.markdown)
    expect(a.verdict).toBe('needs_attention')
    const byName = Object.fromEntries(a.failures.map((f) => [f.name, f]))
    expect(byName['ok 19']).toMatchObject({ class: 'this_change' })
    expect(byName['ok 19']!.evidence.map((e) => e.kind)).toEqual(expect.arrayContaining(['passes_on_default_branch', 'new_signature', 'passed_before_on_branch']))
    expect(byName['on main too']).toMatchObject({ class: 'failing_on_default_branch' })
    expect(a.markdown).toContain('## tidepool triage: run `pr2`')
    expect(a.markdown).toContain('| 1 |')
    expect(a.markdownSource).toBe('deterministic')
  })

  it('rewrites the summary through an OpenAI-compatible endpoint, and falls back when it fails', async () => {
    const seen: { auth?: string; body?: { model: string; messages: { role: string; content: string }[] } } = {}
    let fail = false
    const server = createServer((req, res) => {
      let data = ''
      req.on('data', (c) => (data += c))
      req.on('end', () => {
        seen.auth = req.headers.authorization
        seen.body = JSON.parse(data)
        if (fail || req.url !== '/v1/chat/completions') {
          res.writeHead(500).end('nope')
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: '**Rewritten** summary' } }] }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
    try {
      t = await testInsights({ insights: { llm: { url, model: 'tiny-model' } }, llmApiKey: 'sk-test' })
      await runWith('p', 'r1', { commit: 'c1' }, [{ name: 'x', fail: 'boom' }])
      const tri = await t.svc.triage('p', 'r1')
      expect(tri).toMatchObject({ markdown: '**Rewritten** summary', markdownSource: 'llm' })
      expect(seen.auth).toBe('Bearer sk-test')
      expect(seen.body?.model).toBe('tiny-model')
      expect(seen.body?.messages[1]?.content).toContain('## tidepool triage: run `r1`')
      expect((await t.svc.triage('p', 'r1', { llm: false })).markdownSource).toBe('deterministic')
      fail = true
      const fallback = await t.svc.triage('p', 'r1')
      expect(fallback).toMatchObject({ markdownSource: 'deterministic', llmError: expect.stringContaining('500') })
      expect(fallback.markdown).toContain('## tidepool triage')
    } finally {
      await new Promise((r) => server.close(r))
    }
  })
})

describe('remediation', () => {
  async function flakyHistory(p: string) {
    // "flaky" fails at c1 and passes on the re-run of c1: known flaky. Then it fails alone at c9.
    for (let i = 0; i < 9; i++) {
      await runWith(p, `r${i}`, { commit: `c${i}` }, [...healthy(30), { name: 'flaky', ...(i % 4 === 1 ? { fail: 'Timeout waiting for event' } : {}) }])
      if (i % 4 === 1) await runWith(p, `r${i}b`, { commit: `c${i}`, attempt: 2 }, [...healthy(30), { name: 'flaky' }])
    }
    await runWith(p, 'red', { commit: 'c9', infra: { sandboxId: 'sbx_abcdef123456' } }, [...healthy(30), { name: 'flaky', fail: 'Timeout waiting for event' }])
  }

  it('suggest mode: recommendations pass the gates but only the mode gate stops them; all audited', async () => {
    t = await testInsights({ insights: { remediation: { quarantineMinScore: 0.01 } } })
    await t.svc.putSettings('p', { quarantineOwner: 'team-cart' })
    await flakyHistory('p')
    const fin = await t.svc.finishRun('p', 'red')
    expect(fin.run.arm).toBe('suggest')
    const kinds = fin.remediations.map((r) => r.kind).sort()
    expect(kinds).toEqual(['quarantine', 'rerun', 'snapshot_on_failure'])
    for (const r of fin.remediations) {
      expect(r.status).toBe('suggested')
      expect(r.gates.find((g) => !g.pass)?.gate).toBe('mode')
    }
    const q = fin.remediations.find((r) => r.kind === 'quarantine')!
    expect(q.params).toMatchObject({ owner: 'team-cart' })
    const audits = t.audit.entries.filter((e) => e.action === 'insights.remediation.decide')
    expect(audits).toHaveLength(3)
    expect(audits[0]).toMatchObject({ actor: 'system:remediation', project: 'p', outcome: 'suggested', data: expect.objectContaining({ gates: expect.any(Array), evidence: expect.any(Array) }) })
    // finishing again decides nothing new
    expect((await t.svc.finishRun('p', 'red')).remediations).toEqual([])
    // a human applies the quarantine
    const applied = await t.svc.applyRemediation('p', q.id, 'tok_1 (alice)')
    expect(applied).toMatchObject({ status: 'applied', decidedBy: 'tok_1 (alice)' })
    const test = (await t.svc.listTests('p', { status: 'flaky', limit: 5 })).items[0]!
    expect(test.quarantine).toMatchObject({ owner: 'team-cart', remediationId: q.id })
    await expect(t.svc.applyRemediation('p', q.id, 'tok_1 (alice)')).rejects.toMatchObject({ code: 'conflict' })
    // revert lifts the quarantine and counts against acceptance
    const reverted = await t.svc.rejectRemediation('p', q.id, 'tok_2 (bob)', 'fixed it')
    expect(reverted.status).toBe('reverted')
    expect((await t.svc.listTests('p', { status: 'flaky', limit: 5 })).items[0]!.quarantine).toBeUndefined()
    const rr = fin.remediations.find((r) => r.kind === 'rerun')!
    expect((await t.svc.rejectRemediation('p', rr.id, 'tok_2 (bob)')).status).toBe('rejected')
    const listed = await t.svc.listRemediations('p', { status: 'rejected', limit: 10 })
    expect(listed.items.map((r) => r.id)).toEqual([rr.id])
    const k = await t.svc.kpis('p', '7d')
    expect(k.remediation).toMatchObject({ applied: 0, auto: 0 })
    // applied then reverted, rejected, still pending: none accepted
    expect(k.remediation.suggestionsAcceptedRate).toBe(0)
  })

  it('auto mode applies what passes every gate, through the executor, and refuses the unsafe', async () => {
    const actions = new RecordingActions()
    t = await testInsights({ actions, insights: { remediation: { quarantineMinScore: 0.01 } } })
    await t.svc.putSettings('p', { mode: 'auto', quarantineOwner: 'team-cart' })
    await flakyHistory('p')
    const fin = await t.svc.finishRun('p', 'red')
    expect(fin.run.arm).toBe('auto')
    const byKind = Object.fromEntries(fin.remediations.map((r) => [r.kind, r]))
    expect(byKind.rerun).toMatchObject({ status: 'applied', decidedBy: 'system:remediation' })
    expect(byKind.quarantine).toMatchObject({ status: 'applied' })
    expect(byKind.snapshot_on_failure).toMatchObject({ status: 'applied', result: { effect: { armed: true } } })
    expect(t.audit.entries.filter((e) => e.action === 'insights.remediation.decide').map((e) => e.outcome)).toEqual(['applied', 'applied', 'applied'])
    // the armed snapshot fires on the next failure of the test, through the executor
    await runWith('p', 'red2', { commit: 'c10', infra: { sandboxId: 'sbx_abcdef123456' } }, [...healthy(30), { name: 'flaky', fail: 'Timeout waiting for event' }])
    const fin2 = await t.svc.finishRun('p', 'red2')
    expect(actions.calls.filter((c) => c.op === 'apply').map((c) => c.action.kind)).toEqual(['snapshot_on_failure'])
    expect(fin2.remediations.find((r) => r.kind === 'quarantine')).toBeUndefined() // already quarantined
    const rerun2 = fin2.remediations.find((r) => r.kind === 'rerun')
    expect(rerun2?.status).toBe('applied')
    const k = await t.svc.kpis('p', '7d')
    expect(k.remediation.auto).toBe(4)
    expect(k.remediation.autoAcceptedRate).toBe(1)
  })

  it('auto mode: resize through the executor, reset kept manual by policy, broken tests never quarantined', async () => {
    const actions = new RecordingActions(['resize', 'reset_state'], (a) => ({
      ok: true,
      detail: `${a.kind} ok`,
      effect: a.kind === 'resize' ? { memoryMb: { from: 512, to: 1024 }, factor: 2 } : { sandboxes: 1 },
    }))
    t = await testInsights({ actions })
    await t.svc.putSettings('p', { mode: 'auto' })
    await runWith('p', 'r1', { commit: 'c1', infra: { sandboxId: 'sbx_abcdef123456', memoryPct: 98 } }, [
      ...healthy(30),
      { name: 'db', fail: 'duplicate key value violates unique constraint "orders_pkey"' },
    ])
    const fin = await t.svc.finishRun('p', 'r1')
    const byKind = Object.fromEntries(fin.remediations.map((r) => [r.kind, r]))
    expect(byKind.resize).toMatchObject({ status: 'applied', params: { sandboxId: 'sbx_abcdef123456', dimension: 'memoryMb', factor: 2 } })
    expect(byKind.reset_state).toMatchObject({ status: 'suggested' })
    expect(byKind.reset_state!.gates.find((g) => !g.pass)).toMatchObject({ gate: 'allowlist' })
    expect(actions.calls.map((c) => `${c.op}:${c.action.kind}`)).toEqual(['dryRun:resize', 'apply:resize', 'dryRun:reset_state'])
    // a human may apply the reset (policy allows people)
    const reset = await t.svc.applyRemediation('p', byKind.reset_state!.id, 'tok_1 (alice)')
    expect(reset.status).toBe('applied')
  })

  it('a quarantine of a broken test is refused even by hand', async () => {
    t = await testInsights({ insights: { remediation: { quarantineMinScore: 0 } } })
    await flakyHistory('p')
    const fin = await t.svc.finishRun('p', 'red')
    const q = fin.remediations.find((r) => r.kind === 'quarantine')!
    // the test turns broken before anyone applies the suggestion
    for (let i = 0; i < 12; i++) await runWith('p', `b${i}`, { commit: `b${i}` }, [...healthy(30), { name: 'flaky', fail: 'now always broken' }])
    await t.svc.analyze('p')
    expect((await t.svc.listTests('p', { status: 'broken', limit: 5 })).items.map((x) => x.name)).toEqual(['flaky'])
    await expect(t.svc.applyRemediation('p', q.id, 'tok_1 (alice)')).rejects.toMatchObject({ code: 'policy_denied', message: expect.stringContaining('safety') })
    const after = (await t.svc.listRemediations('p', { kind: 'quarantine', limit: 5 })).items[0]!
    expect(after.status).toBe('refused')
    expect(t.audit.entries.at(-1)).toMatchObject({ action: 'insights.remediation.apply', outcome: 'refused' })
  })

  it('A/B mode assigns each run to an arm deterministically and records it', async () => {
    t = await testInsights()
    await t.svc.putSettings('p', { mode: 'ab', abAutoShare: 0.5 })
    const arms: string[] = []
    for (let i = 0; i < 40; i++) arms.push((await t.svc.createRun('p', { id: `r${i}`, commit: `c${i}`, branch: 'main', attempt: 1, variant: {} })).arm!)
    expect(arms.filter((a) => a === 'auto').length).toBeGreaterThan(10)
    expect(arms.filter((a) => a === 'suggest').length).toBeGreaterThan(10)
    expect((await t.svc.createRun('p', { id: 'r0', commit: 'c0', branch: 'main', attempt: 1, variant: {} })).arm).toBe(arms[0])
    expect(t.audit.entries.filter((e) => e.action === 'insights.abAssign')).toHaveLength(40)
    const k = await t.svc.kpis('p', '7d')
    expect(k.ab.auto.runs + k.ab.suggest.runs).toBe(40)
  })
})

describe('KPIs and settings', () => {
  it('first-attempt green rate, rerun rate, flaky share, wasted minutes, queue time, PR-to-merge, cost', async () => {
    t = await testInsights()
    await runWith('p', 'r1', { commit: 'c1', pr: '1', infra: { queueMs: 1000, costUsd: 0.5 } }, healthy(5))
    await runWith('p', 'r2', { commit: 'c2', pr: '1', infra: { queueMs: 3000, durationMs: 120_000, costUsd: 0.7 } }, [...healthy(4), { name: 'ok 4', fail: 'flake' }])
    await runWith('p', 'r2b', { commit: 'c2', pr: '1', attempt: 2, infra: { queueMs: 2000, costUsd: 0.6 } }, healthy(5))
    await runWith('p', 'r3', { commit: 'c3', pr: '2', infra: { queueMs: 9000 } }, [...healthy(4), { name: 'ok 4', flaky: 'flake', time: 30_000 }])
    await t.svc.ingestEvents('p', 'r1', [{ kind: 'pr_opened', pr: '1', timestamp: '2026-01-05T05:00:00Z' }])
    await t.svc.ingestEvents('p', 'r2b', [{ kind: 'pr_merged', pr: '1', timestamp: '2026-01-05T08:00:00Z' }])
    const k = await t.svc.kpis('p', '24h')
    expect(k.runs).toBe(4)
    expect(k.firstAttemptGreenRate).toBeCloseTo(2 / 3, 3)
    expect(k.rerunRate).toBe(0.5)
    expect(k.flakyFailureShare).toBe(1)
    expect(k.minutesWasted).toBeCloseTo(2 + 0.5, 3)
    expect(k.queueMs).toMatchObject({ n: 4, p50: 2500 })
    expect(k.prToMergeHours).toMatchObject({ n: 1, p50: 3 })
    expect(k.cost.perPrUsd).toBeCloseTo(1.8)
    expect(k.cost.perPipelineUsd['(none)']).toBeCloseTo(1.8)
    expect(k.tests).toMatchObject({ flaky: 1 })
  })

  it('settings default from config and persist per project', async () => {
    t = await testInsights({ insights: { remediation: { mode: 'suggest' } } })
    expect(await t.svc.getSettings('p')).toMatchObject({ mode: 'suggest', abAutoShare: 0.5 })
    const s = await t.svc.putSettings('p', { mode: 'auto', defaultBranch: 'trunk', allowedActions: ['rerun'] })
    expect(s).toMatchObject({ mode: 'auto', defaultBranch: 'trunk', allowedActions: ['rerun'], updatedAt: expect.any(String) })
    expect(await t.svc.getSettings('other')).toMatchObject({ mode: 'suggest' })
    expect(await t.svc.putSettings('p', { defaultBranch: null })).not.toHaveProperty('defaultBranch')
  })
})
