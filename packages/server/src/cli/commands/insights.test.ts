import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Api } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { testInsights, type TestInsights } from '../../insights/testing.js'
import type { CliCommand, CliIo } from '../command.js'
import { insightsCommands } from './insights.js'

const fixtures = join(import.meta.dirname, '../../../test/fixtures/junit')
let t: TestInsights
const dirs: string[] = []
afterEach(async () => {
  await t?.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A scratch directory, removed after the test. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-cli-'))
  dirs.push(dir)
  return dir
}

/** The operations the commands call, in-process over the service (the HTTP path is covered by the integration test). */
function apiOver(t: TestInsights, project = 'p'): Api {
  const s = t.svc
  const impl: Partial<Record<keyof Api, (i: never) => Promise<unknown>>> = {
    createRun: (i: any) => s.createRun(project, { attempt: 1, variant: {}, ...i }),
    finishRun: (i: any) => s.finishRun(project, i.id),
    listRuns: (i: any) => s.listRuns(project, { limit: 100, ...i }),
    ingestJunit: (i: any) => s.ingestJunit(project, i.id, i.body, { name: i.name, framework: i.framework, root: i.root }),
    getRunTriage: (i: any) => s.triage(project, i.id, { llm: i.llm === undefined ? undefined : i.llm === 'true' }),
    listInsightTests: (i: any) => s.listTests(project, { limit: 100, ...i }),
    getTestHistory: (i: any) => s.testHistory(project, { limit: 100, ...i }),
    getKpis: (i: any) => s.kpis(project, i.window ?? '7d'),
    listSignatures: (i: any) => s.listSignatures(project, { limit: 100, ...i }),
    getInsightsSettings: () => s.getSettings(project),
    putInsightsSettings: (i: any) => s.putSettings(project, i),
    applyRemediation: (i: any) => s.applyRemediation(project, i.id, 'cli test', i.note),
    rejectRemediation: (i: any) => s.rejectRemediation(project, i.id, 'cli test', i.note),
  }
  return impl as unknown as Api
}

async function run(cmd: string[], args: string[], api: Api, cwd: string) {
  const command = insightsCommands.find((c) => c.words.join(' ') === cmd.join(' ')) as CliCommand
  const { parseArgs } = await import('node:util')
  const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const info: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = {
    json,
    out: (x) => void out.push(x),
    info: (x) => void (!json && info.push(x)),
    print: (v, human) => void out.push(json ? JSON.stringify(v) : human()),
  }
  const code = await command.run({ values: values as never, positionals, api: async () => api, io, cwd })
  return { code, out: out.join('\n'), info: info.join('\n') }
}

describe('tidepool ingest junit / triage / insights', () => {
  it('ingests reports from several producers into one run, finishes it and triages it', async () => {
    t = await testInsights()
    const api = apiOver(t)
    const r = await run(
      ['ingest', 'junit'],
      ['vitest/vitest-real.xml', 'surefire/TEST-com.example.cart.CartServiceTest.xml', '--run', 'gh-1-1', '--commit', 'abc123', '--branch', 'main', '--variant', 'os=linux,node=20'],
      api,
      fixtures,
    )
    expect(r.code).toBe(0)
    expect(r.info).toContain('vitest/vitest-real.xml: vitest, 5 tests, 2 failed')
    expect(r.out).toContain('run gh-1-1: 2 report(s), 11 tests, 4 failed')
    const run1 = await t.svc.getRun('p', 'gh-1-1')
    expect(run1).toMatchObject({ status: 'finished', variant: { os: 'linux', node: '20' }, summary: { files: 2, tests: 11 } })

    const dir = scratch()
    const tr = await run(['triage'], ['--run', 'gh-1-1', '--out', 'triage.md'], api, dir)
    expect(tr.code).toBe(0)
    expect(readFileSync(join(dir, 'triage.md'), 'utf8')).toContain('## tidepool triage: run `gh-1-1`')
    const md = await run(['triage'], ['--run', 'gh-1-1'], api, dir)
    expect(md.out).toContain('| # | test | cause | confidence | evidence |')
    const js = await run(['triage'], ['--run', 'gh-1-1', '--json'], api, dir)
    // 4 of 11 tests failed (≥ 30 %): an outage suspect, by the rule
    expect(JSON.parse(js.out)).toMatchObject({ run: { id: 'gh-1-1', infraSuspect: true }, verdict: 'infrastructure' })

    const tests = await run(['insights', 'tests'], ['--json'], api, dir)
    expect(JSON.parse(tests.out).items).toHaveLength(11)
    const table = await run(['insights', 'tests'], ['--status', 'healthy'], api, dir)
    expect(table.out).toMatch(/^TEST\s+STATUS\s+TIER\s+SCORE/)
    const sigs = await run(['insights', 'signatures'], [], api, dir)
    expect(sigs.out).toContain('SIGNATURE')
    const k = await run(['insights', 'kpis'], ['--window', '30d'], api, dir)
    expect(k.out).toContain('first-attempt green')
  })

  it('a missing or unreadable report is reported per file and exits 65 (incomplete, not a pass)', async () => {
    t = await testInsights()
    const api = apiOver(t)
    const r = await run(['ingest', 'junit'], ['jest/jest-junit.xml', 'nope.xml', 'robustness/truncated.xml', '--run', 'r2', '--commit', 'c', '--branch', 'main', '--json'], api, fixtures)
    expect(r.code).toBe(65)
    const out = JSON.parse(r.out)
    expect(out.missing).toEqual([{ file: 'nope.xml', kind: 'missing', message: expect.stringContaining('not a pass') }])
    expect(out.files.map((f: { errors: { kind: string }[] }) => f.errors.map((e) => e.kind))).toEqual([[], ['truncated']])
    expect(out.run.outcome).toBe('red')
  })

  it('large reports are sent gzipped; runs create and settings work; bad flags say what to do', async () => {
    t = await testInsights()
    const api = apiOver(t)
    const dir = scratch()
    const cases = Array.from({ length: 20_000 }, (_, i) => `<testcase classname="big.Suite" name="test number ${i}" time="0.001"/>`).join('\n')
    writeFileSync(join(dir, 'big.xml'), `<testsuite name="big">${cases}</testsuite>`)
    const r = await run(['ingest', 'junit'], ['big.xml', '--run', 'big', '--commit', 'c', '--branch', 'main', '--keep-open'], api, dir)
    expect(r.code).toBe(0)
    expect((await t.svc.getRun('p', 'big')).summary.tests).toBe(20_000)
    expect((await t.svc.getRun('p', 'big')).status).toBe('running')
    const c = await run(['runs', 'create'], ['--commit', 'c9', '--branch', 'dev', '--id', 'x1', '--attempt', '2', '--pr', '12'], api, dir)
    expect(c.out).toBe('x1')
    await expect(run(['runs', 'create'], ['--branch', 'dev'], api, dir)).rejects.toThrow(/--commit and --branch/)
    await expect(run(['runs', 'create'], ['--commit', 'c', '--branch', 'b', '--variant', 'linux'], api, dir)).rejects.toThrow(/key=value/)
    await expect(run(['ingest', 'junit'], ['a.xml', '--commit', 'c', '--branch', 'b'], api, dir)).rejects.toThrow(/--run is required/)
    const s = await run(['insights', 'settings'], ['--mode', 'auto', '--owner', 'team-a'], api, dir)
    expect(s.out).toContain('mode auto')
    expect((await run(['insights', 'settings'], ['--json'], api, dir)).out).toContain('"quarantineOwner":"team-a"')
  })

  it('apply and reject need a remediation id, and pass the id and note on', async () => {
    t = await testInsights()
    const api = apiOver(t)
    for (const word of ['apply', 'reject']) {
      await expect(run(['insights', word], [], api, fixtures)).rejects.toThrow(/missing remediation id \(see tidepool insights remediations\)/)
      await expect(run(['insights', word], ['rem_nope', '--note', 'why'], api, fixtures)).rejects.toMatchObject({ code: 'not_found' })
    }
  })
})
