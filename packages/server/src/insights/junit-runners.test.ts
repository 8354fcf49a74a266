import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { attachmentRetry, parseJunit, retrySection, type ParsedCase } from './junit.js'
import { testInsights } from './testing.js'

// Reports written by real runs of one small suite per runner (test/fixtures/runners/generate.sh): a test that
// passes, one that always fails, and one that fails its first attempt and passes its retry.
const dir = join(import.meta.dirname, '../../test/fixtures/runners')
const parse = (p: string) => parseJunit(readFileSync(join(dir, p)), { file: p })
const byName = (cases: ParsedCase[], part: string) => {
  const c = cases.find((x) => x.name.includes(part))
  if (!c) throw new Error(`no case ${part} in ${cases.map((x) => x.name).join(', ')}`)
  return c
}

describe('retry traces of real runners', () => {
  it('gotestsum --rerun-fails=2: repeated test cases of one identity are attempts', () => {
    const r = parse('gotestsum/rerun-fails.xml')
    expect(r.framework).toBe('gotestsum')
    expect(r.cases).toHaveLength(3)
    expect(byName(r.cases, 'TestFlaky')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(byName(r.cases, 'TestAlwaysFails')).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(byName(r.cases, 'TestPasses')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
    expect(r.warnings).toEqual([])
  })

  it('vitest retry: 2 — one <failure> per failed attempt; a pass on retry leaves no trace', () => {
    const r = parse('vitest/retry.xml')
    expect(r.framework).toBe('vitest')
    expect(byName(r.cases, 'always fails')).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(byName(r.cases, 'flaky')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
  })

  it('pytest-rerunfailures --reruns 2: every rerun is a <testcase> of its own without a failure; the last decides', () => {
    for (const family of ['xunit1', 'xunit2']) {
      const r = parse(`pytest/rerunfailures-${family}.xml`)
      expect(r.framework).toBe('pytest')
      expect(r.cases).toHaveLength(3)
      expect(byName(r.cases, 'test_always_fails')).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
      expect(byName(r.cases, 'test_flaky')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
      expect(byName(r.cases, 'test_passes')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
      expect(r.warnings).toEqual([])
    }
  })

  it('jest-junit and mocha-junit-reporter hide retries: only the final attempt is visible', () => {
    const jest = parse('jest/jest-junit-retry.xml')
    expect(jest.framework).toBe('jest')
    expect(byName(jest.cases, 'flaky')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
    expect(byName(jest.cases, 'always fails')).toMatchObject({ outcome: 'fail', attempts: 1, fails: 1 })
    const mocha = parse('mocha/mocha-junit-retry.xml')
    expect(mocha.framework).toBe('mocha')
    expect(byName(mocha.cases, 'flaky')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
    expect(byName(mocha.cases, 'always fails')).toMatchObject({ outcome: 'fail', attempts: 1, fails: 1 })
  })

  it('Playwright retries: "Retry #N" sections of a failure; -retryN attachment paths of a test that passed on retry', () => {
    const r = parse('playwright/retries-trace-on-first-retry.xml')
    expect(r.framework).toBe('playwright')
    expect(byName(r.cases, 'always fails')).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(byName(r.cases, 'flaky: fails the first attempt')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    // trace: 'on-first-retry' attaches a trace to every retry: a flake without attachments of its own shows too.
    expect(byName(r.cases, 'flaky without attachments')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(byName(r.cases, 'passes')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
    const bare = parse('playwright/retries-no-trace.xml')
    expect(byName(bare.cases, 'always fails')).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(byName(bare.cases, 'flaky: fails the first attempt')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    // No trace, no attachment: the retry is invisible.
    expect(byName(bare.cases, 'flaky without attachments')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
  })

  it('jest --json: invocations per test are attempts (what jest-junit hides)', () => {
    const r = parse('jest/jest-retry.json')
    expect(r).toMatchObject({ framework: 'jest', errors: [], warnings: [] })
    expect(r.cases).toHaveLength(3)
    expect(byName(r.cases, 'flaky')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1, file: 'jest/cart.test.js' })
    const red = byName(r.cases, 'always fails')
    expect(red).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(red.failure?.message).toContain('expect(received).toBe(expected)')
    expect(byName(r.cases, 'passes')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
  })

  it('a JSON file that is not jest output is a clear problem, never a pass', () => {
    expect(parseJunit('{"numTests": 3}', { file: 'x.json' }).errors[0]?.kind).toBe('not_junit')
    expect(parseJunit('{"num', { file: 'y.json' }).errors[0]?.kind).toBe('malformed')
    const proto = parseJunit('{"numX":1,"testResults":[{"name":"a.test.js","assertionResults":[{"title":"__proto__","status":"passed","invocations":2,"__proto__":{"x":1}}]}]}', { file: 'p.json' })
    expect(proto.cases[0]).toMatchObject({ name: '__proto__', attempts: 2, fails: 1 })
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('ingested, each runner’s flaky test is flaky-in-run where its report shows the retry', async () => {
    const t = await testInsights()
    try {
      const files: [string, number][] = [
        ['gotestsum/rerun-fails.xml', 1],
        ['pytest/rerunfailures-xunit2.xml', 1],
        ['jest/jest-retry.json', 1],
        ['jest/jest-junit-retry.xml', 0],
        ['vitest/retry.xml', 0],
      ]
      for (const [i, [f, flaky]] of files.entries()) {
        await t.svc.createRun('p', { id: `r${i}`, commit: `c${i}`, branch: 'main', attempt: 1, variant: {} })
        await t.svc.ingestJunit('p', `r${i}`, readFileSync(join(dir, f)), { name: f })
        expect((await t.svc.getRun('p', `r${i}`)).summary, f).toMatchObject({ tests: 3, failed: 1, flaky })
      }
    } finally {
      await t.close()
    }
  })
})

describe('Playwright retry marks', () => {
  it('reads the highest retry of attachment paths and failure sections, nothing else', () => {
    expect(attachmentRetry('[[ATTACHMENT|test-results/a/x.txt]]\n[[ATTACHMENT|test-results/a-retry2/trace.zip]]\n[[ATTACHMENT|test-results/a-retry1/x]]')).toBe(2)
    expect(attachmentRetry('test-results/a-retry3/x.txt [[ATTACHMENT|test-results/a-retryX/x]] [[ATTACHMENT|b-retry4.txt]]')).toBe(0)
    expect(retrySection('Error\n    Retry #1 ───\n    Retry #12 ───')).toBe(12)
    expect(retrySection('Retry #x')).toBe(0)
    // Adversarial input stays linear: many unterminated markers.
    expect(attachmentRetry('[[ATTACHMENT|-retry'.repeat(50_000))).toBe(0)
  })
})
