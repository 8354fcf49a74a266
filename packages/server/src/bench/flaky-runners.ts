/**
 * @module bench/flaky-runners — per-runner flaky detection on a main branch: what each runner's real report shows
 * of a retry (parsed from test/fixtures/runners) decides what the model sees of a flaky test over 20 commits.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { mulberry32 } from '../core/prng.js'
import { judgeTest, type Entry, type FlakinessParams } from '../insights/flakiness.js'
import { parseJunit, type ParsedCase } from '../insights/junit.js'
import { figure, type Metric } from './result.js'

const fixtures = fileURLToPath(new URL('../../test/fixtures/runners/', import.meta.url))

/** Report of each runner, and the names of its flaky and always-failing tests. */
const runners: { runner: string; file: string }[] = [
  { runner: 'gotestsum --rerun-fails', file: 'gotestsum/rerun-fails.xml' },
  { runner: 'pytest-rerunfailures', file: 'pytest/rerunfailures-xunit2.xml' },
  { runner: 'playwright (trace on-first-retry)', file: 'playwright/retries-trace-on-first-retry.xml' },
  { runner: 'jest --json', file: 'jest/jest-retry.json' },
  { runner: 'vitest junit', file: 'vitest/retry.xml' },
  { runner: 'jest-junit', file: 'jest/jest-junit-retry.xml' },
  { runner: 'mocha-junit-reporter', file: 'mocha/mocha-junit-retry.xml' },
]

const params: FlakinessParams = { historyRuns: 300, credibleLevel: 0.9, brokenAfter: 3, brokenImprobability: 0.001, recoverAfterRuns: 30, recoverImprobability: 0.01 }
const commits = 20
const trials = 400
/** Per-attempt failure rate of the flaky test, and retries the runner makes. */
const rate = 0.2
const retries = 2

/** What the reader sees of one run, from the runner's real report: a flake that passed on retry, a red test. */
function visibility(file: string): { flake: Pick<ParsedCase, 'outcome' | 'attempts' | 'fails'>; red: Pick<ParsedCase, 'outcome' | 'attempts' | 'fails'> } {
  const cases = parseJunit(readFileSync(fixtures + file), { file }).cases
  const find = (part: string) => {
    const letters = (name: string) => [...name.toLowerCase()].filter((ch) => ch >= 'a' && ch <= 'z').join('')
    const c = cases.find((x) => letters(x.name).includes(part))
    if (!c) throw new Error(`${file}: no test "${part}"`)
    return c
  }
  return { flake: find('flaky'), red: find('alwaysfails') }
}

/**
 * For each runner: 400 histories of 20 commits on main, one run each, a test failing 20 % of its attempts, with 2
 * retries: the share found flaky within the 20 commits, and the share whose call rests on in-run retry evidence.
 * Plus the same test without retries (every runner alike: only flips across commits can tell).
 */
export function perRunnerMetrics(): Metric[] {
  const out: Metric[] = []
  for (const { runner, file } of runners) {
    const s = simulate(visibility(file), retries)
    out.push(figure(`${runner}: flaky found within 20 commits (20 %/attempt, 2 retries)`, 'ratio', s.found))
    out.push(figure(`${runner}: found with in-run retry evidence`, 'ratio', s.retry))
  }
  const s = simulate(undefined, 0)
  out.push(figure('any runner, no retries: flaky found within 20 commits (20 %/attempt)', 'ratio', s.found))
  return out
}

function simulate(v: ReturnType<typeof visibility> | undefined, tries: number): { found: number; retry: number } {
  const r = mulberry32(16)
  let found = 0
  let retryFound = 0
  for (let t = 0; t < trials; t++) {
    const entries: Entry[] = []
    for (let c = 0; c < commits; c++) {
      let failedAttempts = 0
      while (failedAttempts <= tries && r() < rate) failedAttempts++
      const run = { id: `r${c}`, at: c, commit: `c${c}`, codeKey: `c${c}`, variantKey: '', branch: 'main', isDefault: true, infra: false, attempt: 1 }
      if (failedAttempts === 0) entries.push({ run, outcome: 'pass', attempts: 1, fails: 0 })
      else if (failedAttempts > tries) entries.push({ run, outcome: 'fail', attempts: v?.red.attempts ?? 1, fails: v?.red.fails ?? 1 })
      // Passed on a retry: the report shows the failed attempts, or (runners that hide retries) a plain pass.
      else if (v && v.flake.fails > 0) entries.push({ run, outcome: 'pass', attempts: failedAttempts + 1, fails: failedAttempts })
      else entries.push({ run, outcome: 'pass', attempts: 1, fails: 0 })
    }
    const verdict = judgeTest(entries, params)
    if (verdict.status === 'flaky') found++
    if (verdict.status === 'flaky' && verdict.evidenceKinds.includes('in_run_retry')) retryFound++
  }
  return { found: round(found / trials), retry: round(retryFound / trials) }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
