/** @module insights/junit-fold — JUnit test cases as read → one case per test: identity (normalised once, cached), outcome, attempts, duration. */
import type { FileProblem } from '@tidepool/sdk'
import { capText, cleanLine } from './clean.js'
import { normalizePath, normalizeSuite, testIdOf } from './identity.js'

export type Framework = 'surefire' | 'pytest' | 'jest' | 'vitest' | 'mocha' | 'playwright' | 'gotestsum' | 'dotnet' | 'junit'
export type Outcome = 'pass' | 'fail' | 'skip'

/** One test of one report, retries inside the run already folded in. */
export interface ParsedCase {
  testId: string
  file: string
  suite: string
  name: string
  outcome: Outcome
  /** Attempts inside the run (1 + in-run retries). */
  attempts: number
  /** Of them, failed. */
  fails: number
  durationMs?: number
  /** First failure: type, message and (capped) trace. */
  failure?: { type: string; message: string; text: string }
}

export interface FailureRec {
  kind: 'failure' | 'error' | 'flaky' | 'rerun' | 'pyrerun'
  type: string
  message: string
  text: string
}

/** A <testcase> as read, before identities are normalised and retries folded. */
export interface RawCase {
  classname: string
  name: string
  file: string
  time: string | undefined
  suiteName: string
  suiteFile: string
  hostname: string
  recs: FailureRec[]
  skipped: boolean
  /** Playwright: highest retry number its report mentions (attachment paths, "Retry #N" sections). */
  retries?: number | undefined
}

/** The report's raw cases → one case per test identity (retries in one report folded as attempts); collisions become warnings. */
export function foldCases(raw: RawCase[], framework: Framework, root: string | undefined, cap: number, file: string, warnings: FileProblem[]): ParsedCase[] {
  const byId = new Map<string, ParsedCase & { passes: number; failed: number; lastPass: boolean }>()
  const collisions = new Set<string>()
  for (const rc of raw) {
    const { testId, file: testFile, suite, name } = identityOf(rc, framework, root)

    const none: FailureRec[] = []
    const finals = rc.recs.length ? rc.recs.filter((r) => r.kind === 'failure' || r.kind === 'error') : none
    const flaky = rc.recs.length ? rc.recs.filter((r) => r.kind === 'flaky') : none
    const reruns = rc.recs.length ? rc.recs.filter((r) => r.kind === 'rerun' || r.kind === 'pyrerun') : none
    let outcome: Outcome
    let attempts: number
    let fails: number
    // Playwright's retries of a failed test are "Retry #N" sections of its one <failure>; a test that passed on a
    // retry shows only in the attachment paths of the retries (test-results/<test>-retryN/…, e.g. the trace).
    const pwRetries = framework === 'playwright' ? (rc.retries ?? 0) : 0
    if (finals.length > 0) {
      outcome = 'fail'
      // Vitest writes one <failure> per failed attempt of a retried test (and per soft-assertion error).
      attempts = Math.max((framework === 'vitest' ? finals.length : 1) + reruns.length, 1 + pwRetries)
      fails = attempts
    } else if (flaky.length > 0 || reruns.length > 0) {
      outcome = 'pass'
      attempts = 1 + flaky.length + reruns.length
      fails = flaky.length + reruns.length
    } else if (pwRetries > 0 && !rc.skipped) {
      outcome = 'pass'
      attempts = 1 + pwRetries
      fails = pwRetries
    } else if (rc.skipped) {
      outcome = 'skip'
      attempts = 0
      fails = 0
    } else {
      outcome = 'pass'
      attempts = 1
      fails = 0
    }
    const first = finals[0] ?? flaky[0] ?? reruns[0]
    const failure = first ? { type: first.type, message: capText(first.message, cap), text: capText(first.text, cap) } : undefined
    const durationMs = parseSeconds(rc.time, framework)

    const prev = byId.get(testId)
    if (!prev) {
      byId.set(testId, {
        testId,
        file: testFile,
        suite,
        name,
        outcome,
        attempts,
        fails,
        ...(durationMs !== undefined ? { durationMs } : {}),
        ...(failure ? { failure } : {}),
        passes: outcome === 'pass' ? 1 : 0,
        failed: outcome === 'fail' ? 1 : 0,
        lastPass: outcome === 'pass' && fails === 0,
      })
      continue
    }
    // Same identity again in one report: a retry (gotestsum --rerun-fails, pytest reruns) — folded as attempts.
    if (framework === 'pytest') {
      // pytest-rerunfailures (with pytest's own junitxml) writes every rerun attempt as a <testcase> of its own,
      // without a <failure>, before the final one: every earlier occurrence was a failed attempt, the last decides.
      if (prev.lastPass) prev.fails++
      prev.attempts += attempts
      prev.fails += fails
      prev.outcome = outcome
      prev.lastPass = outcome === 'pass' && fails === 0
      if (!prev.failure && failure) prev.failure = failure
      if (durationMs !== undefined) prev.durationMs = durationMs
      continue
    }
    prev.attempts += attempts
    prev.fails += fails
    if (outcome === 'pass') prev.passes++
    if (outcome === 'fail') prev.failed++
    if (prev.passes > 1) collisions.add(testId)
    prev.outcome = prev.passes > 0 ? 'pass' : prev.failed > 0 ? 'fail' : 'skip'
    if (!prev.failure && failure) prev.failure = failure
    // The duration of the last attempt is the test's time (earlier attempts are retry overhead).
    if (durationMs !== undefined) prev.durationMs = durationMs
  }
  for (const id of collisions) {
    const c = byId.get(id)!
    warnings.push({
      file,
      kind: 'collision',
      message: `test identity collision: "${c.suite} › ${c.name}" passed more than once in one report; distinct tests share a name (treated as one test)`,
    })
  }
  return [...byId.values()].map(({ passes: _p, failed: _f, lastPass: _l, ...c }) => c)
}

interface Identity {
  testId: string
  file: string
  suite: string
  name: string
}

// The same tests come back in every run: normalising and hashing their identity once saves most of the work.
const identities = new Map<string, Identity>()
const maxIdentities = 500_000

function identityOf(rc: RawCase, framework: Framework, root: string | undefined): Identity {
  const key = `${framework}\u0000${root ?? ''}\u0000${rc.classname}\u0000${rc.suiteName}\u0000${rc.file}\u0000${rc.suiteFile}\u0000${rc.hostname}\u0000${rc.name}`
  const hit = identities.get(key)
  if (hit) return hit
  let name = cleanLine(rc.name)
  const suite = normalizeSuite(cleanLine(rc.classname || rc.suiteName), root)
  const file = rc.file || rc.suiteFile ? normalizePath(cleanLine(rc.file || rc.suiteFile), root) : ''
  // Playwright puts the project (browser) in the suite's hostname: the same test per project is a different test.
  if (framework === 'playwright' && rc.hostname && !name.startsWith('[')) name = `[${cleanLine(rc.hostname)}] ${name}`
  if (!name) name = '(unnamed)'
  // pytest's classname already names the module, and only the xunit1 family writes `file`: leave it out of the id
  // so switching families keeps every test's history.
  const id: Identity = { testId: testIdOf(framework, framework === 'pytest' ? '' : file, suite, name), file, suite, name }
  if (identities.size >= maxIdentities) identities.clear()
  identities.set(key, id)
  return id
}

/**
 * JUnit `time` is seconds. Locale-safe: "1,234.5" (grouping) → 1234.5; "0,123" (decimal comma) → 0.123;
 * "1,234" is grouping for Surefire (which formats with #,##0.###) and a decimal comma elsewhere. Returns ms.
 */
export function parseSeconds(raw: string | undefined, framework: Framework = 'junit'): number | undefined {
  if (raw === undefined) return undefined
  if (/^\d{1,9}(?:\.\d{1,9})?$/.test(raw)) return Math.round(Number(raw) * 1e6) / 1e3
  let s = raw
    .trim()
    .replace(/\s|\u00a0|\u202f|'/g, '')
    .replace(/s$/i, '')
  if (!s) return undefined
  const comma = s.lastIndexOf(',')
  const dot = s.lastIndexOf('.')
  if (comma !== -1 && dot !== -1) {
    s = comma > dot ? s.replace(/\./g, '').replace(',', '.') : s.replace(/,/g, '')
  } else if (comma !== -1) {
    const groups = s.split(',')
    const grouping = groups.length > 2 || (framework === 'surefire' && groups[1]?.length === 3)
    s = grouping ? groups.join('') : s.replace(',', '.')
  }
  if (!/^-?(?:\d*\.)?\d+(?:[eE][-+]?\d+)?$/.test(s)) return undefined
  const v = Number(s)
  if (!Number.isFinite(v) || v < 0) return undefined
  return Math.round(v * 1e6) / 1e3
}
