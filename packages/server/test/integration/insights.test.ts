/**
 * The feedback loop through the front door: HTTP (hono app and a real listening server), auth scopes, dispatch
 * audit, the SDK client and the built CLI, with JUnit reports from real producers. The runtime is the fake one:
 * insights never starts a sandbox (the resize remediation against a real sandbox is tested with the runtime).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { testPlane, type TestPlane } from '../../src/testing/control-plane.js'
import { cliRunner } from './support/cli.js'

const fixtures = join(import.meta.dirname, '../fixtures/junit')
const producers = readdirSync(fixtures).filter((d) => d !== 'robustness' && !d.includes('.'))

let tp: TestPlane
let ci: string
let reader: string
let other: string
const json = async (r: Response) => (await r.json()) as Record<string, any>

async function token(project: string, scopes: string[]): Promise<string> {
  const r = await tp.call('POST', '/v1/tokens', { body: { project, scopes, name: `${project}-${scopes.length}` } })
  expect(r.status).toBe(201)
  return (await json(r)).token
}

describe('insights over HTTP', () => {
  beforeAll(async () => {
    tp = await testPlane(new FakeRuntime())
    ci = await token('shop', ['runs:write', 'insights:read', 'insights:write'])
    reader = await token('shop', ['insights:read'])
    other = await token('other', ['runs:write', 'insights:read'])
  })
  afterAll(async () => {
    await tp?.dispose()
  })

  it('ingests reports of every producer into a run, idempotently, and triages it as JSON and Markdown', async () => {
    expect(producers.length).toBeGreaterThanOrEqual(8)
    const created = await tp.call('POST', '/v1/runs', { token: ci, body: { id: 'gh-100-1', commit: 'a1b2c3d4', branch: 'feature/cart', pr: '42', variant: { os: 'linux', node: '20' } } })
    expect(created.status).toBe(201)
    expect(await json(created)).toMatchObject({ id: 'gh-100-1', status: 'running', outcome: 'empty', arm: 'suggest' })
    let tests = 0
    for (const dir of producers) {
      for (const f of readdirSync(join(fixtures, dir))) {
        const body = readFileSync(join(fixtures, dir, f))
        const r = await tp.call('POST', `/v1/runs/gh-100-1/junit?name=${encodeURIComponent(`${dir}/${f}`)}`, {
          token: ci,
          raw: f.endsWith('.xml') && dir === 'dotnet' ? gzipSync(body) : body,
          headers: { 'content-type': 'application/xml' },
        })
        expect(r.status, `${dir}/${f}`).toBe(200)
        const res = await json(r)
        expect(res.errors, `${dir}/${f}`).toEqual([])
        expect(res.framework).toBe(dir === 'pytest' ? 'pytest' : dir === 'surefire' ? 'surefire' : dir === 'dotnet' ? 'dotnet' : dir)
        tests += res.tests
      }
    }
    const again = await json(
      await tp.call('POST', '/v1/runs/gh-100-1/junit?name=vitest%2Fvitest-real.xml', {
        token: ci,
        raw: readFileSync(join(fixtures, 'vitest/vitest-real.xml')),
        headers: { 'content-type': 'application/xml' },
      }),
    )
    expect(again.duplicate).toBe(true)
    const events = await tp.call('POST', '/v1/runs/gh-100-1/events', {
      token: ci,
      body: {
        events: [
          { kind: 'infra_sample', infra_metrics: { cpuPct: 40, memoryPct: 55 } },
          { kind: 'pr_opened', pr: '42' },
        ],
      },
    })
    expect(await json(events)).toEqual({ runId: 'gh-100-1', accepted: 2 })
    const fin = await json(await tp.call('POST', '/v1/runs/gh-100-1/finish', { token: ci, body: {} }))
    expect(fin.run).toMatchObject({ status: 'finished', summary: { files: 11 } })
    // both real pytest reports ran the same suite: the same tests, counted once per run
    expect(fin.run.summary.tests).toBe(tests - 8)

    const tri = await json(await tp.call('GET', '/v1/insights/runs/gh-100-1/triage', { token: reader }))
    expect(tri.failures.length).toBeGreaterThan(5)
    for (const f of tri.failures) expect(['infrastructure', 'failing_on_default_branch', 'known_flaky', 'this_change']).toContain(f.class)
    const md = await tp.call('GET', '/v1/insights/runs/gh-100-1/triage', { token: reader, headers: { accept: 'text/markdown' } })
    expect(md.headers.get('content-type')).toContain('text/markdown')
    expect(await md.text()).toMatch(/^## tidepool triage: run `gh-100-1`/)
  })

  it('enforces scopes and projects, and validates input with messages that name the field', async () => {
    const ro = await tp.call('POST', '/v1/runs', { token: reader, body: { commit: 'x', branch: 'main' } })
    expect(ro.status).toBe(403)
    expect((await json(ro)).error.code).toBe('policy_denied')
    expect((await tp.call('GET', '/v1/insights/runs/gh-100-1/triage', { token: other })).status).toBe(404)
    expect((await json(await tp.call('GET', '/v1/insights/tests', { token: other }))).items).toEqual([])
    const bad = await tp.call('POST', '/v1/runs', { token: ci, body: { branch: 'main', attempt: 0, variant: { 'bad key': 'x' } } })
    expect(bad.status).toBe(400)
    const err = (await json(bad)).error
    expect(err.code).toBe('invalid_request')
    expect(err.message).toMatch(/commit/)
    expect(err.message).toMatch(/attempt/)
    expect((await tp.call('POST', '/v1/runs/nope/junit', { token: ci, raw: '<testsuite/>', headers: { 'content-type': 'application/xml' } })).status).toBe(404)
    expect((await tp.call('GET', '/v1/insights/kpis?window=forever', { token: ci })).status).toBe(400)
  })

  it('learns flakiness across runs, and the decisions are audited', async () => {
    ci = await token('pay', ['runs:write', 'insights:read', 'insights:write'])
    reader = await token('pay', ['insights:read'])
    const report = (fail: boolean) =>
      `<testsuites name="vitest tests"><testsuite name="src/pay.test.ts">${Array.from({ length: 20 }, (_, i) => `<testcase classname="src/pay.test.ts" name="case ${i}" time="0.01"/>`).join('')}<testcase classname="src/pay.test.ts" name="retries payment" time="0.2">${fail ? '<failure message="socket hang up">Error: socket hang up</failure>' : ''}</testcase></testsuite></testsuites>`
    const put = await json(await tp.call('PUT', '/v1/insights/settings', { token: ci, body: { mode: 'auto', quarantineOwner: 'payments' } }))
    expect(put).toMatchObject({ mode: 'auto', quarantineOwner: 'payments' })
    for (let i = 0; i < 8; i++) {
      const fail = i % 3 === 1
      await tp.call('POST', '/v1/runs', { token: ci, body: { id: `m${i}`, commit: `c${i}`, branch: 'main' } })
      await tp.call('POST', `/v1/runs/m${i}/junit`, { token: ci, raw: report(fail), headers: { 'content-type': 'application/xml' } })
      if (fail) {
        await tp.call('POST', '/v1/runs', { token: ci, body: { id: `m${i}b`, commit: `c${i}`, branch: 'main', attempt: 2 } })
        await tp.call('POST', `/v1/runs/m${i}b/junit`, { token: ci, raw: report(false), headers: { 'content-type': 'application/xml' } })
      }
    }
    const flaky = await json(await tp.call('GET', '/v1/insights/tests?status=flaky', { token: reader }))
    expect(flaky.items.map((t: { name: string }) => t.name)).toEqual(['retries payment'])
    const h = await json(await tp.call('GET', `/v1/insights/tests/${flaky.items[0].testId}/history?limit=3`, { token: reader }))
    expect(h.items.map((e: { runId: string }) => e.runId)).toEqual(['m7b', 'm7', 'm6'])

    await tp.call('POST', '/v1/runs', { token: ci, body: { id: 'red', commit: 'c9', branch: 'main' } })
    await tp.call('POST', '/v1/runs/red/junit', { token: ci, raw: report(true), headers: { 'content-type': 'application/xml' } })
    const fin = await json(await tp.call('POST', '/v1/runs/red/finish', { token: ci, body: {} }))
    const kinds = Object.fromEntries(fin.remediations.map((r: { kind: string; status: string }) => [r.kind, r.status]))
    expect(kinds).toMatchObject({ rerun: 'applied', snapshot_on_failure: 'applied' })
    const rem = await json(await tp.call('GET', '/v1/insights/remediations?kind=rerun&status=applied', { token: reader }))
    expect(rem.items[0]).toMatchObject({ runId: 'red', decidedBy: 'system:remediation' })
    const audit = await json(await tp.call('GET', '/v1/audit?action=insights.remediation.decide'))
    const mine = audit.items.filter((a: { project: string }) => a.project === 'pay')
    expect(mine.length).toBeGreaterThanOrEqual(2)
    expect(mine[0]).toMatchObject({ actor: 'system:remediation', data: { gates: expect.any(Array), evidence: expect.any(Array) } })
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).ok).toBe(true)

    const kpis = await json(await tp.call('GET', '/v1/insights/kpis?window=7d', { token: reader }))
    expect(kpis).toMatchObject({ runs: 12, tests: { flaky: 1 } })
    expect(kpis.remediation.auto).toBeGreaterThanOrEqual(2)
    for (const path of ['/v1/insights/anomalies', '/v1/insights/signatures', '/v1/insights/clusters', '/v1/runs?branch=main']) {
      expect((await tp.call('GET', path, { token: reader })).status, path).toBe(200)
    }
    const doc = await json(await tp.call('GET', '/openapi.json', { token: null }))
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/runs', '/v1/runs/{id}/junit', '/v1/insights/tests', '/v1/insights/runs/{id}/triage', '/v1/insights/kpis']))
  })
})

describe('insights through the SDK and the built CLI on a listening server', () => {
  let url: string
  let home: string
  beforeAll(async () => {
    tp = await testPlane(new FakeRuntime(), { port: 0 })
    url = (await tp.listen()).url
    ci = await token('cli', ['runs:write', 'insights:read', 'insights:write'])
    home = mkdtempSync(join(tmpdir(), 'tidepool-insights-cli-'))
  })
  afterAll(async () => {
    await tp?.dispose()
    rmSync(home, { recursive: true, force: true })
  })

  it('the SDK uploads bytes and reads the triage', async () => {
    const api = createClient({ baseUrl: url, token: ci })
    await api.createRun({ id: 'sdk-1', commit: 'f00', branch: 'main' })
    const r = await api.ingestJunit({ id: 'sdk-1', body: readFileSync(join(fixtures, 'gotestsum/gotestsum-rerun-fails.xml')), name: 'go.xml' })
    expect(r).toMatchObject({ framework: 'gotestsum', tests: 5, failures: 1, flaky: 1 })
    const t = await api.getRunTriage({ id: 'sdk-1' })
    expect(t.failures.map((f) => f.name).sort()).toEqual(['TestMain', 'TestRedisCache'])
  })

  it('tidepool ingest junit, triage and insights tests (built CLI)', async () => {
    const env = { ...process.env, TIDEPOOL_URL: url, TIDEPOOL_TOKEN: ci, TIDEPOOL_HOME: home }
    const run = cliRunner(env, fixtures)
    const cli = async (args: string[]) => {
      const r = await run(...args)
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
    }
    const ing = await cli([
      'ingest',
      'junit',
      'jest/jest-junit.xml',
      'mocha/mocha-junit-reporter.xml',
      'missing.xml',
      '--run',
      'cli-1',
      '--commit',
      'abc',
      '--branch',
      'main',
      '--variant',
      'os=linux,node=22',
    ])
    expect(ing.code, ing.stderr).toBe(65)
    expect(ing.stderr).toContain('missing.xml: missing')
    expect(ing.stdout).toContain('run cli-1: 2 report(s), 9 tests, 2 failed, 1 report(s) missing or unreadable (incomplete)')
    const out = join(home, 'triage.md')
    const tri = await cli(['triage', '--run', 'cli-1', '--out', out])
    expect(tri.code, tri.stderr).toBe(0)
    expect(readFileSync(out, 'utf8')).toContain('## tidepool triage: run `cli-1`')
    const tests = await cli(['insights', 'tests', '--json'])
    expect(tests.code, tests.stderr).toBe(0)
    expect(JSON.parse(tests.stdout).items).toHaveLength(9 + 5) // and the 5 the SDK test ingested
  })
})
