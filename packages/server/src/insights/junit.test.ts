import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseJunit, parseSeconds, type ParsedCase } from './junit.js'

const dir = join(import.meta.dirname, '../../test/fixtures/junit')
const fixture = (p: string) => readFileSync(join(dir, p))
const parse = (p: string, root?: string) => parseJunit(fixture(p), { file: p, root })
const byName = (cases: ParsedCase[], name: string) => {
  const c = cases.find((x) => x.name === name)
  if (!c) throw new Error(`no case ${name} in ${cases.map((x) => x.name).join(', ')}`)
  return c
}

describe('parseJunit: producers', () => {
  it('vitest (real reporter output)', () => {
    const r = parse('vitest/vitest-real.xml')
    expect(r.framework).toBe('vitest')
    expect(r.errors).toEqual([])
    expect(r.cases).toHaveLength(5)
    expect(byName(r.cases, 'math > adds')).toMatchObject({ outcome: 'pass', suite: 'math.test.ts', attempts: 1, fails: 0 })
    const d = byName(r.cases, 'math > divides')
    expect(d).toMatchObject({ outcome: 'fail', attempts: 1, fails: 1 })
    expect(d.failure?.message).toBe('expected 2.5 to be 3 // Object.is equality')
    expect(d.failure?.type).toBe('AssertionError')
    expect(byName(r.cases, 'math > pending thing').outcome).toBe('skip')
    expect(byName(r.cases, 'math > nested > deep equal').outcome).toBe('fail')
  })

  it('pytest xunit1 and xunit2 (real): same ids, skip and xfail are skips, file kept for display', () => {
    const a = parse('pytest/pytest-xunit1-real.xml')
    const b = parse('pytest/pytest-xunit2-logging-real.xml')
    expect(a.framework).toBe('pytest')
    expect(b.framework).toBe('pytest')
    expect(a.cases.map((c) => c.testId).sort()).toEqual(b.cases.map((c) => c.testId).sort())
    expect(byName(a.cases, 'test_total')).toMatchObject({ suite: 'test_sample.TestCart', file: 'test_sample.py', outcome: 'fail' })
    expect(byName(a.cases, 'test_gpu').outcome).toBe('skip')
    expect(byName(a.cases, 'test_known_bug').outcome).toBe('skip')
    expect(byName(a.cases, 'test_param[2]').outcome).toBe('fail')
    expect(byName(a.cases, 'test_connect').failure?.message).toContain('Connection refused')
  })

  it('pytest reruns: <rerun> elements are failed attempts; a repeated test case is a retry', () => {
    const r = parse('pytest/pytest-reruns.xml')
    expect(byName(r.cases, 'test_create_order')).toMatchObject({ outcome: 'pass', attempts: 3, fails: 2 })
    expect(byName(r.cases, 'test_cancel_order')).toMatchObject({ outcome: 'fail', attempts: 2, fails: 2 })
    expect(byName(r.cases, 'test_migrations')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(r.warnings).toEqual([])
  })

  it('Surefire: flakyFailure/flakyError pass on rerun, rerunFailure fails, error, skipped, grouped time', () => {
    const r = parse('surefire/TEST-com.example.cart.CartServiceTest.xml')
    expect(r.framework).toBe('surefire')
    expect(byName(r.cases, 'appliesCoupon')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(byName(r.cases, 'appliesCoupon').failure?.text).toContain('CartServiceTest.java:48')
    expect(byName(r.cases, 'appliesCoupon').failure?.text).not.toContain('coupon cache miss') // nested system-out is not the trace
    expect(byName(r.cases, 'checkoutTimesOut')).toMatchObject({ outcome: 'pass', attempts: 3, fails: 2, durationMs: 1_234_500 })
    expect(byName(r.cases, 'removesItem')).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(byName(r.cases, 'loadsFixtures')).toMatchObject({ outcome: 'fail', attempts: 1, fails: 1 })
    expect(byName(r.cases, 'loadsFixtures').failure?.type).toBe('org.postgresql.util.PSQLException')
    expect(byName(r.cases, 'exportsCsv').outcome).toBe('skip')
  })

  it('Surefire (real: Maven Surefire 3.2.5, -Dsurefire.rerunFailingTestsCount=2, JUnit 5): every attempt counts', () => {
    const r = parse('surefire/TEST-com.example.retry.RetryTest-real.xml')
    expect(r.framework).toBe('surefire')
    expect(r.errors).toEqual([])
    expect(r.cases).toHaveLength(4) // the suite's own tests="1" is Surefire's count after reruns; the cases are read
    expect(byName(r.cases, 'passes')).toMatchObject({ outcome: 'pass', attempts: 1, fails: 0 })
    expect(byName(r.cases, 'failsOnceThenPasses')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(byName(r.cases, 'errorsOnceThenPasses')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    const always = byName(r.cases, 'alwaysFails')
    expect(always).toMatchObject({ outcome: 'fail', attempts: 3, fails: 3 })
    expect(always.failure?.text).toContain('RetryTest.java:43')
  })

  it('jest-junit: ANSI colour codes written as character references are stripped', () => {
    const r = parse('jest/jest-junit.xml')
    expect(r.framework).toBe('jest')
    const c = byName(r.cases, 'Cart computes the total')
    expect(c.outcome).toBe('fail')
    expect(c.failure?.text).toContain('Expected: 8')
    expect(c.failure?.text).not.toMatch(/\u001b/)
    expect(r.cases.filter((x) => x.outcome === 'pass')).toHaveLength(3)
  })

  it('mocha-junit-reporter: file from the suite, workspace prefix stripped', () => {
    const r = parse('mocha/mocha-junit-reporter.xml')
    expect(r.framework).toBe('mocha')
    expect(r.cases).toHaveLength(4)
    expect(byName(r.cases, 'cart talks to the pricing service')).toMatchObject({ outcome: 'fail', file: 'test/cart.spec.js' })
  })

  it('Playwright with retries: flaky and rerun failures, one test per project', () => {
    const r = parse('playwright/playwright-retries.xml')
    expect(r.framework).toBe('playwright')
    expect(r.cases).toHaveLength(4)
    expect(byName(r.cases, '[chromium] checkout › pays with card')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(byName(r.cases, '[chromium] checkout › shows receipt')).toMatchObject({ outcome: 'fail', attempts: 2, fails: 2 })
    expect(byName(r.cases, '[firefox] checkout › shows receipt').outcome).toBe('pass')
  })

  it('gotestsum --rerun-fails: the repeated test is one flaky test; TestMain of a package', () => {
    const r = parse('gotestsum/gotestsum-rerun-fails.xml')
    expect(r.framework).toBe('gotestsum')
    expect(byName(r.cases, 'TestRedisCache')).toMatchObject({ outcome: 'pass', attempts: 2, fails: 1 })
    expect(byName(r.cases, 'TestMain')).toMatchObject({ outcome: 'fail', suite: 'example.com/shop/internal/badmain' })
    expect(byName(r.cases, 'TestSkipped').outcome).toBe('skip')
    expect(r.warnings).toEqual([])
  })

  it('dotnet JunitXml.TestLogger: decimal-comma times', () => {
    const r = parse('dotnet/junit-testlogger.xml')
    expect(r.framework).toBe('dotnet')
    expect(byName(r.cases, 'AddsItem').durationMs).toBeCloseTo(1.2345, 2)
    expect(byName(r.cases, 'ComputesTotal(items: 3)')).toMatchObject({ outcome: 'fail', durationMs: 50.4 })
    expect(byName(r.cases, 'PaysWithCard').outcome).toBe('skip')
  })
})

describe('parseJunit: robustness', () => {
  it('strips raw ANSI sequences and XML-illegal control characters', () => {
    const r = parse('robustness/ansi-control-chars.xml')
    expect(r.errors).toEqual([])
    const c = r.cases.find((x) => x.outcome === 'fail')!
    expect(c.name).toBe('ui renders bold')
    expect(c.failure?.message).toBe('Expected value')
    expect(c.failure?.text).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/)
    expect(byName(r.cases, 'ui ok').durationMs).toBe(1500)
  })

  it('a truncated report keeps the complete test cases and reports the file as incomplete', () => {
    const r = parse('robustness/truncated.xml')
    expect(r.cases.map((c) => c.name)).toEqual(['one', 'two'])
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0]).toMatchObject({ kind: 'truncated', file: 'robustness/truncated.xml' })
    expect(r.errors[0]!.message).toMatch(/line \d+/)
  })

  it('not JUnit, HTML error pages and empty files are per-file errors, never a pass', () => {
    expect(parse('robustness/nunit3.xml').errors[0]?.kind).toBe('not_junit')
    expect(parse('robustness/html-error-page.xml').errors[0]?.kind).toBe('not_junit')
    expect(parse('robustness/empty.xml').errors[0]?.kind).toBe('empty')
    expect(parseJunit('garbage without tags', { file: 'x' }).errors[0]?.kind).toBe('malformed')
    for (const p of ['robustness/nunit3.xml', 'robustness/html-error-page.xml', 'robustness/empty.xml']) expect(parse(p).cases).toEqual([])
  })

  it('honours the declared encoding (Latin-1) and UTF-16 with a BOM', () => {
    const r = parse('robustness/latin1.xml')
    expect(r.cases[0]).toMatchObject({ suite: 'CaféTest', name: 'crème brûlée' })
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<testsuite name="s"><testcase classname="Ünï" name="t"/></testsuite>', 'utf16le')])
    expect(parseJunit(utf16, { file: 'u16' }).cases[0]?.suite).toBe('Ünï')
  })

  it('parses a huge report (50 000 cases, 20 MB) and caps failure text', () => {
    const parts = ['<testsuites>']
    const big = 'x'.repeat(300)
    for (let s = 0; s < 50; s++) {
      parts.push(`<testsuite name="s${s}">`)
      for (let i = 0; i < 1000; i++) {
        parts.push(
          i % 100 === 0
            ? `<testcase classname="s${s}" name="t${i}" time="0.01"><failure message="m">${big.repeat(20)}</failure><system-out>${big.repeat(10)}</system-out></testcase>`
            : `<testcase classname="s${s}" name="t${i}" time="0.01"><system-out>${big}</system-out></testcase>`,
        )
      }
      parts.push('</testsuite>')
    }
    parts.push('</testsuites>')
    const xml = parts.join('\n')
    expect(xml.length).toBeGreaterThan(20_000_000)
    const r = parseJunit(Buffer.from(xml), { file: 'huge.xml', messageMaxChars: 1000 })
    expect(r.cases).toHaveLength(50_000)
    expect(r.cases.filter((c) => c.outcome === 'fail')).toHaveLength(500)
    expect(r.cases.find((c) => c.failure)!.failure!.text.length).toBeLessThanOrEqual(1000)
  })

  it('tolerates unknown elements, attributes without quotes, comments, DOCTYPE and ">" in attributes', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><!-- c --><testsuites><testsuite name=s><properties><property name="k" value="a > b"/></properties><testcase classname="c" name="a &gt; b" time="1"><weird><nested/></weird></testcase></testsuite></testsuites>`
    const r = parseJunit(xml, { file: 'x' })
    expect(r.errors).toEqual([])
    expect(r.cases[0]).toMatchObject({ name: 'a > b', outcome: 'pass', durationMs: 1000 })
  })

  it('warns about identity collisions (two passing cases with one name)', () => {
    const xml = '<testsuite name="s"><testcase classname="c" name="same"/><testcase classname="c" name="same"/></testsuite>'
    const r = parseJunit(xml, { file: 'dup.xml' })
    expect(r.cases).toHaveLength(1)
    expect(r.warnings[0]?.kind).toBe('collision')
  })
})

describe('parseSeconds', () => {
  it.each([
    ['0.5', 'junit', 500],
    ['1,234.5', 'surefire', 1_234_500],
    ['1.234,5', 'junit', 1_234_500],
    ['0,123', 'dotnet', 123],
    ['1,234', 'surefire', 1_234_000],
    ['1,234', 'dotnet', 1234],
    ['12s', 'junit', 12_000],
    [' 3 ', 'junit', 3000],
    ['1e-3', 'junit', 1],
  ] as const)('%s (%s) → %d ms', (raw, fw, ms) => {
    expect(parseSeconds(raw, fw)).toBeCloseTo(ms, 6)
  })
  it.each(['', 'NaN', '-1', 'abc', '1,2,3.4.5'])('%j is no duration', (raw) => {
    expect(parseSeconds(raw)).toBeUndefined()
  })
})

describe('parseJunit: prototype names', () => {
  it('an element or attribute named like a prototype key neither hides a failure nor changes a prototype', () => {
    const xml = `<testsuites><testsuite name="s" __proto__="x" constructor="y"><testcase classname="a" name="t1" constructor="c"><constructor><failure message="boom">trace</failure></constructor></testcase><testcase classname="a" name="t2"><__proto__><error message="bad"/></__proto__></testcase><testcase classname="a" name="t3"><prototype/></testcase></testsuite></testsuites>`
    const r = parseJunit(xml, { file: 'proto.xml' })
    expect(byName(r.cases, 't1')).toMatchObject({ outcome: 'fail', fails: 1 })
    expect(byName(r.cases, 't1').failure?.message).toBe('boom')
    expect(byName(r.cases, 't2')).toMatchObject({ outcome: 'fail', fails: 1 })
    expect(byName(r.cases, 't3').outcome).toBe('pass')
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })
})
