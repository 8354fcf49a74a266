/** @module insights/flakiness — one test's verdict from its history: flaky (with Bayesian score), broken, or healthy; recovery with hysteresis. */
import type { Outcome } from './junit.js'
import type { Entry, RunInfo } from './history-entry.js'
import { analyzeFlips, defaultFlipParams, type FlipParams } from './flips.js'
import { betaScore, type BetaScore } from './stats.js'

export type { Entry, RunInfo } from './history-entry.js'

export interface FlakinessParams {
  historyRuns: number
  credibleLevel: number
  brokenAfter: number
  brokenImprobability: number
  recoverAfterRuns: number
  recoverImprobability: number
  /** Cross-commit flip model (defaults when absent). */
  flips?: FlipParams | undefined
}

/** What made a flaky call: a pass and a failure of one tree across CI re-runs, a retry inside a run, flips across commits. */
export type EvidenceKind = 'same_tree_retry' | 'in_run_retry' | 'cross_commit_flips'

export type Status = 'flaky' | 'broken' | 'healthy'
export type Tier = 'confirmed' | 'likely' | 'suspect' | 'recovered' | 'none'

export interface Verdict {
  status: Status
  tier: Tier
  score: BetaScore
  /** Attempts (non-infra, non-skipped) in the window. */
  n: number
  fails: number
  /** code key + variant groups with both a passing and a failing attempt. */
  evidence: number
  /** Runs with an in-run retry flip (failed, then passed). */
  inRunFlips: number
  /** Entries left out as infrastructure suspects. */
  excluded: number
  /** Trailing consecutive failing runs on the default branch. */
  failStreak: number
  /** When the current status began (data time, epoch ms). */
  since?: number | undefined
  /** Time of the first flaky evidence in the window. */
  firstEvidenceAt?: number | undefined
  /** Kinds of flaky evidence found (empty for a test that is not flaky). */
  evidenceKinds: EvidenceKind[]
  /** Pass↔fail transitions across default-branch commits outside break and fix segments. */
  flips: number
  /** Failure episodes that ended within a few commits (see flips.ts). */
  flipEpisodes: number
}

/** Judges one test. `entries` are sorted by run time, oldest first. */
export function judgeTest(all: readonly Entry[], p: FlakinessParams, testFile?: string): Verdict {
  const window = all.length > p.historyRuns ? all.slice(all.length - p.historyRuns) : all
  let excluded = 0
  const used: Entry[] = []
  for (const e of window) {
    if (e.run.infra) excluded++
    else if (e.outcome !== 'skip' && e.attempts > 0) used.push(e)
  }
  let n = 0
  let fails = 0
  for (const e of used) {
    n += e.attempts
    fails += e.fails
  }
  const score = betaScore(fails, n, p.credibleLevel)

  // Flaky evidence: a pass and a failure at the same code key and variant (in-run retries count).
  const groups = new Map<string, { pass: boolean; fail: boolean; runPass: boolean; runFail: boolean; mixedAt?: number }>()
  let inRunFlips = 0
  let firstEvidenceAt: number | undefined
  let lastFailIdx = -1
  for (let i = 0; i < used.length; i++) {
    const e = used[i]!
    if (e.fails > 0) lastFailIdx = i
    if (e.fails > 0 && e.attempts > e.fails) inRunFlips++
    const key = `${e.run.codeKey}\u0000${e.run.variantKey}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { pass: false, fail: false, runPass: false, runFail: false }))
    if (e.attempts > e.fails) g.pass = true
    if (e.fails > 0) g.fail = true
    if (e.outcome === 'pass' && e.fails === 0) g.runPass = true
    if (e.outcome === 'fail') g.runFail = true
    if (g.pass && g.fail && g.mixedAt === undefined) {
      g.mixedAt = e.run.at
      if (firstEvidenceAt === undefined || e.run.at < firstEvidenceAt) firstEvidenceAt = e.run.at
    }
  }
  let evidence = 0
  let sameTree = false
  for (const g of groups.values()) {
    if (g.mixedAt !== undefined) evidence++
    if (g.runPass && g.runFail) sameTree = true
  }
  const fl = analyzeFlips(used, p.flips ?? defaultFlipParams, testFile)
  const base = { n, fails, evidence, inRunFlips, excluded, flips: fl.flips, flipEpisodes: fl.flipEpisodes }

  // Broken: a trailing streak of failing default-branch runs, improbable under the test's own earlier flaky rate.
  let failStreak = 0
  let streakStart = -1
  for (let i = used.length - 1; i >= 0; i--) {
    const e = used[i]!
    if (!e.run.isDefault) continue
    if (e.outcome !== 'fail') break
    failStreak++
    streakStart = i
  }
  let broken = false
  if (failStreak >= p.brokenAfter && streakStart >= 0) {
    let nb = 0
    let fb = 0
    for (let i = 0; i < streakStart; i++) {
      if (fl.breakRuns.has(used[i]!.run.id)) continue
      nb += used[i]!.attempts
      fb += used[i]!.fails
    }
    const before = betaScore(fb, nb, p.credibleLevel).mean
    // A pass at a code key of the streak means the failure is not deterministic there.
    const streakKeysPass = used.slice(streakStart).some((e) => {
      const g = groups.get(`${e.run.codeKey}\u0000${e.run.variantKey}`)
      return e.run.isDefault && g?.pass === true
    })
    // A test with little history before the streak (prior mean 0.5) is broken after 3× brokenAfter at most.
    broken = !streakKeysPass && (before ** failStreak < p.brokenImprobability || failStreak >= 3 * p.brokenAfter)
  }
  if (broken) {
    return { status: 'broken', tier: 'none', score, ...base, failStreak, since: used[streakStart]!.run.at, firstEvidenceAt, evidenceKinds: [] }
  }

  const kinds: EvidenceKind[] = []
  if (sameTree) kinds.push('same_tree_retry')
  if (inRunFlips > 0) kinds.push('in_run_retry')
  if (fl.flaky) kinds.push('cross_commit_flips')
  if (fl.flaky && fl.evidenceAt !== undefined && (firstEvidenceAt === undefined || fl.evidenceAt < firstEvidenceAt)) firstEvidenceAt = fl.evidenceAt
  if (evidence > 0 || fl.flaky) {
    // The failure rate of a flaky test leaves out the runs of a break and its fix.
    let nf = 0
    let ff = 0
    let nAll = 0
    let fAll = 0
    for (let i = 0; i < used.length; i++) {
      const e = used[i]!
      if (fl.breakRuns.has(e.run.id)) continue
      nAll += e.attempts
      fAll += e.fails
      if (i <= lastFailIdx) {
        nf += e.attempts
        ff += e.fails
      }
    }
    const flakyScore = fl.breakRuns.size ? betaScore(fAll, nAll, p.credibleLevel) : score
    // Recovery with hysteresis: enter on one piece of evidence, leave only after a clean streak that would be
    // improbable (< recoverImprobability) under the rate the test failed at, and at least recoverAfterRuns long.
    const clean = used.length - 1 - lastFailIdx
    const rate = Math.min(0.999, betaScore(ff, nf, p.credibleLevel).mean)
    const needed = Math.max(p.recoverAfterRuns, Math.ceil(Math.log(p.recoverImprobability) / Math.log(1 - rate)))
    if (clean >= needed) {
      const recoveredAt = used[lastFailIdx + needed]?.run.at
      return { status: 'healthy', tier: 'recovered', score: flakyScore, ...base, failStreak, since: recoveredAt, firstEvidenceAt, evidenceKinds: kinds }
    }
    const tier: Tier = evidence >= 2 || inRunFlips > 0 || kinds.length >= 2 || fl.flipEpisodes > (p.flips ?? defaultFlipParams).minFlipEpisodes ? 'confirmed' : 'likely'
    return {
      status: 'flaky',
      tier,
      score: flakyScore,
      ...base,
      n: fl.breakRuns.size ? nAll : n,
      fails: fl.breakRuns.size ? fAll : fails,
      failStreak,
      since: firstEvidenceAt,
      firstEvidenceAt,
      evidenceKinds: kinds,
    }
  }
  const tier: Tier = fails > 0 ? 'suspect' : 'none'
  return { status: 'healthy', tier, score, ...base, failStreak, since: window[0]?.run.at, firstEvidenceAt, evidenceKinds: [] }
}

/** Folds the rows of one test in one run (several report files) into one entry: any pass wins, attempts add up. */
export function foldRows(rows: { outcome: Outcome; attempts: number; fails: number; durationMs?: number | undefined; signature?: string | undefined }[]): Omit<Entry, 'run'> {
  let attempts = 0
  let fails = 0
  let pass = false
  let fail = false
  let durationMs: number | undefined
  let signature: string | undefined
  for (const r of rows) {
    attempts += r.attempts
    fails += r.fails
    if (r.outcome === 'pass') pass = true
    if (r.outcome === 'fail') fail = true
    if (r.durationMs !== undefined && r.outcome !== 'skip') durationMs = r.durationMs
    signature ??= r.signature
  }
  return { outcome: pass ? 'pass' : fail ? 'fail' : 'skip', attempts, fails, durationMs, signature }
}
