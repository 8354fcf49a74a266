/**
 * @module insights/flips — flakiness across commits: on the default branch, failures that come and go from one
 * commit to the next (pass↔fail flips) against what a break (a change point into persistent failure) and a fix
 * (persistent failure that ends) look like.
 *
 * Per variant, the default-branch runs of a test form a pass/fail sequence (infrastructure suspects and skips left
 * out). Maximal runs of failing runs are failure segments; segments of several variants that overlap in commits
 * are one episode (a break shows on every variant at once). An episode that ends (a pass follows) within
 * `maxFlipSpan` commits is a flip episode; one that lasts longer is a break that was fixed; one still going at the
 * end of the history is a possible break (the broken rule judges it). Under a break model each flip episode needs
 * its own break and fix; the test is flaky across commits when `minFlipEpisodes` of them occurred and that many
 * break/fix pairs would be improbable (Poisson, `breakRate` per commit) — a fixed test that failed once is not.
 * An episode with a failure on a commit that changed the test's own file (the run's `changedFiles`) is explained
 * by that change — a break and its fix, never a flip — whatever its span.
 */
import type { Entry } from './history-entry.js'

export interface FlipParams {
  /** Longest episode (in distinct commits) that still counts as a flip rather than a break and its fix. */
  maxFlipSpan: number
  /** Flip episodes needed before a test is flaky across commits. */
  minFlipEpisodes: number
  /** Prior rate of a break of one test per commit (the break model). */
  breakRate: number
  /** The flip episodes must be this improbable as break/fix pairs (Poisson tail). */
  flipImprobability: number
}

export const defaultFlipParams: FlipParams = { maxFlipSpan: 3, minFlipEpisodes: 2, breakRate: 0.001, flipImprobability: 0.05 }

export interface Episode {
  /** Commit ordinals (order of first appearance on the default branch), inclusive. */
  lo: number
  hi: number
  /** Failing runs in it (all variants). */
  runs: number
  /** Ended by a pass on every variant it showed on. */
  ended: boolean
  /** Time of the run that ended it (the last variant's first pass after it). */
  endedAt?: number | undefined
  kind: 'flip' | 'fix' | 'open'
  /** A failing run of it changed the test's file: the change explains it (counted as a fix, not a flip). */
  explained?: boolean
}

export interface FlipAnalysis {
  episodes: Episode[]
  /** Pass↔fail transitions outside break and fix segments. */
  flips: number
  flipEpisodes: number
  fixes: number
  /** Episodes explained by a change to the test's file (included in `fixes` when they ended). */
  explained: number
  /** The newest episode is still failing. */
  open: boolean
  /** Distinct default-branch commits seen. */
  commits: number
  /** P(≥ flipEpisodes break/fix pairs) under the break model. */
  breakModelP: number
  flaky: boolean
  /** When the deciding flip episode ended. */
  evidenceAt?: number | undefined
  /** Run ids inside fix segments and a long open episode: left out of the failure rate of a flaky test. */
  breakRuns: Set<string>
}

interface Segment {
  lo: number
  hi: number
  runs: string[]
  ended: boolean
  endedAt?: number | undefined
  explained: boolean
}

/** Whether a run's changed files include the test's file (paths compared whole, or one as a /-bounded suffix of the other: reports name files relative to a package, diffs from the repository root). */
export function changedTestFile(changed: ReadonlySet<string> | undefined, file: string | undefined): boolean {
  if (!changed || !file) return false
  if (changed.has(file)) return true
  for (const c of changed) if (c.endsWith(`/${file}`) || file.endsWith(`/${c}`)) return true
  return false
}

/** Analyses the default-branch entries of one test (any order of branches; entries sorted by time, oldest first). */
export function analyzeFlips(entries: readonly Entry[], p: FlipParams = defaultFlipParams, testFile?: string): FlipAnalysis {
  const ordinal = new Map<string, number>()
  const byVariant = new Map<string, Entry[]>()
  for (const e of entries) {
    if (!e.run.isDefault || e.run.infra || e.outcome === 'skip' || e.attempts === 0) continue
    if (!ordinal.has(e.run.codeKey)) ordinal.set(e.run.codeKey, ordinal.size)
    let l = byVariant.get(e.run.variantKey)
    if (!l) byVariant.set(e.run.variantKey, (l = []))
    l.push(e)
  }
  const segments: Segment[] = []
  for (const list of byVariant.values()) {
    let cur: Segment | undefined
    for (const e of list) {
      const o = ordinal.get(e.run.codeKey)!
      if (e.outcome === 'fail') {
        if (!cur) cur = { lo: o, hi: o, runs: [], ended: false, explained: false }
        if (changedTestFile(e.run.changedFiles, testFile)) cur.explained = true
        cur.hi = Math.max(cur.hi, o)
        cur.lo = Math.min(cur.lo, o)
        cur.runs.push(e.run.id)
      } else if (cur) {
        cur.ended = true
        cur.endedAt = e.run.at
        segments.push(cur)
        cur = undefined
      }
    }
    if (cur) segments.push(cur)
  }
  segments.sort((a, b) => a.lo - b.lo)
  const merged: Segment[] = []
  for (const s of segments) {
    const last = merged[merged.length - 1]
    if (last && s.lo <= last.hi) {
      last.hi = Math.max(last.hi, s.hi)
      last.runs.push(...s.runs)
      last.ended &&= s.ended
      last.explained ||= s.explained
      last.endedAt = last.ended ? Math.max(last.endedAt ?? 0, s.endedAt ?? 0) : undefined
    } else merged.push({ ...s, runs: [...s.runs] })
  }
  const breakRuns = new Set<string>()
  const episodes: Episode[] = []
  let flipEpisodes = 0
  let fixes = 0
  let explained = 0
  let flips = 0
  let evidenceAt: number | undefined
  const commits = ordinal.size
  // Flip episodes in the order they ended: the deciding one is the first at which the test qualifies.
  const endings: number[] = []
  for (const s of merged) {
    const span = s.hi - s.lo + 1
    const kind: Episode['kind'] = !s.ended ? 'open' : span <= p.maxFlipSpan && !s.explained ? 'flip' : 'fix'
    if (s.explained) explained++
    episodes.push({ lo: s.lo, hi: s.hi, runs: s.runs.length, ended: s.ended, endedAt: s.endedAt, kind, ...(s.explained ? { explained: true } : {}) })
    if (kind === 'flip') {
      flipEpisodes++
      flips += s.lo > 0 ? 2 : 1
      endings.push(s.endedAt!)
    } else if (kind === 'fix') {
      fixes++
      for (const id of s.runs) breakRuns.add(id)
    } else {
      if (span > p.maxFlipSpan || s.explained) for (const id of s.runs) breakRuns.add(id)
      else if (s.lo > 0) flips++
    }
  }
  const breakModelP = poissonSf(flipEpisodes, commits * p.breakRate)
  const flaky = flipEpisodes >= p.minFlipEpisodes && breakModelP < p.flipImprobability
  if (flaky) {
    endings.sort((a, b) => a - b)
    // The first ending after which enough episodes had been seen (the improbability over the commits then is close enough).
    evidenceAt = endings[p.minFlipEpisodes - 1]
  }
  const open = merged.length > 0 && !merged[merged.length - 1]!.ended
  return { episodes, flips, flipEpisodes, fixes, explained, open, commits, breakModelP, flaky, evidenceAt, breakRuns }
}

/** P(X ≥ k) for X ~ Poisson(lambda). */
export function poissonSf(k: number, lambda: number): number {
  if (k <= 0) return 1
  let term = Math.exp(-lambda)
  let cdf = term
  for (let i = 1; i < k; i++) {
    term *= lambda / i
    cdf += term
  }
  return Math.max(0, 1 - cdf)
}
