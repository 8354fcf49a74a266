/** @module insights/synthetic — a CI history generator with known ground truth (flaky, broken, co-failing, slowed tests; outages; PR breakages), and its scorer. */
import { testIdOf } from './identity.js'
import type { InsightsService } from './service.js'
import { mulberry32 } from '../core/prng.js'

export interface SyntheticSpec {
  seed: number
  /** Test count and how they spread over suites (classes). */
  tests: number
  suites: number
  /** Runs to generate (first attempts, re-runs and PR runs all count). */
  runs: number
  /** Matrix: every commit runs on each variant. */
  variants: Record<string, string>[]
  /** Flaky tests and their per-attempt failure rates (uniform in [min, max]). */
  flaky: { count: number; minRate: number; maxRate: number }
  /** Groups of 3 flaky tests that fail together (one shared cause). */
  coFailGroups: number
  /** Tests broken on the default branch from some commit on (half of them fixed later). */
  broken: number
  /** Tests broken for 1–3 default-branch commits, then fixed (a revert): never flaky. */
  quickFixes?: number | undefined
  /** Outages: full (40–90 % of tests fail) and partial (the database suites fail), each lasting 1–3 runs. */
  outages: { full: number; partial: number }
  /** Tests that become 2× slower from one default-branch commit on. */
  slowed: number
  /** Share of runs on PR branches; a share of PRs break one test of their own. */
  prShare: number
  prBreakShare: number
  /** CI re-runs a red run (attempt + 1, same commit) with this probability. */
  rerunRed: number
  /** Share of runs with in-run retries (Surefire rerunFailingTestsCount=2). */
  inRunRetries: number
  startAt: number
  intervalMs: number
}

export const defaultSpec: SyntheticSpec = {
  seed: 42,
  tests: 300,
  suites: 30,
  runs: 400,
  variants: [
    { os: 'linux', node: '20' },
    { os: 'linux', node: '22' },
  ],
  flaky: { count: 24, minRate: 0.03, maxRate: 0.3 },
  coFailGroups: 2,
  broken: 4,
  outages: { full: 4, partial: 4 },
  slowed: 1,
  prShare: 0.3,
  prBreakShare: 0.2,
  rerunRed: 0.8,
  inRunRetries: 0.3,
  startAt: Date.parse('2026-01-01T00:00:00Z'),
  intervalMs: 10 * 60_000,
}

export interface SyntheticRun {
  input: Parameters<InsightsService['createRun']>[1] & { id: string }
  xml: string
  /** Number of test results in the report. */
  results: number
  /** Tests with at least one failed attempt in this run. */
  failed: string[]
  outage?: 'full' | 'partial'
}

export interface GroundTruth {
  /** testId → per-attempt failure rate of truly flaky tests (co-failing members included). */
  flaky: Map<string, number>
  broken: Set<string>
  /** Tests broken for a while and fixed since (neither flaky nor broken at the end). */
  fixed: Set<string>
  /** Tests that only a PR broke (healthy on the default branch). */
  prBroken: Set<string>
  slowed: { testId: string; commit: string; runId: string }[]
  outageRuns: Set<string>
  coFailGroups: string[][]
  /** Index (in generation order) of every run id. */
  runIndex: Map<string, number>
}

const rng = mulberry32

interface TestDef {
  id: string
  suite: string
  name: string
  baseMs: number
  db: boolean
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** Generates the history. Deterministic for a spec. */
export function generateHistory(spec: SyntheticSpec): { runs: SyntheticRun[]; truth: GroundTruth } {
  const r = rng(spec.seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const tests: TestDef[] = []
  for (let i = 0; i < spec.tests; i++) {
    const s = i % spec.suites
    const suite = `com.example.s${String(s).padStart(3, '0')}.Suite${s}Test`
    const name = `test${String(i).padStart(5, '0')}`
    tests.push({ id: testIdOf('surefire', '', suite, name), suite, name, baseMs: Math.round(20 + 400 * r() ** 2), db: s % 7 === 0 })
  }
  const shuffled = [...tests].sort(() => r() - 0.5)
  let k = 0
  const take = (n: number) => shuffled.slice(k, (k += n))
  const truth: GroundTruth = { flaky: new Map(), broken: new Set(), fixed: new Set(), prBroken: new Set(), slowed: [], outageRuns: new Set(), coFailGroups: [], runIndex: new Map() }
  const flakyRate = new Map<string, number>()
  for (const t of take(spec.flaky.count)) {
    const rate = spec.flaky.minRate + (spec.flaky.maxRate - spec.flaky.minRate) * r()
    flakyRate.set(t.id, rate)
    truth.flaky.set(t.id, rate)
  }
  const groups: { ids: string[]; rate: number }[] = []
  for (let g = 0; g < spec.coFailGroups; g++) {
    const ids = take(3).map((t) => t.id)
    const rate = 0.05 + 0.1 * r()
    groups.push({ ids, rate })
    truth.coFailGroups.push(ids)
    for (const id of ids) truth.flaky.set(id, rate)
  }
  // Broken on main from a commit in the first 70 % of history; half get fixed 10–40 runs later.
  const broken = take(spec.broken).map((t, i) => {
    const from = Math.floor(spec.runs * (0.15 + 0.55 * r()))
    const to = i % 2 === 0 ? from + 10 + Math.floor(30 * r()) : Number.POSITIVE_INFINITY
    return { id: t.id, from, to }
  })
  // Quick fixes: broken at a commit, reverted 1–3 commits later (in run indices: commits × variants).
  for (const t of take(spec.quickFixes ?? 0)) {
    const from = Math.floor(spec.runs * (0.1 + 0.8 * r()))
    broken.push({ id: t.id, from, to: from + (1 + Math.floor(3 * r())) * spec.variants.length })
  }
  for (const b of broken) (b.to === Number.POSITIVE_INFINITY ? truth.broken : truth.fixed).add(b.id)
  const slowed = take(spec.slowed).map((t) => ({ id: t.id, from: Math.floor(spec.runs * (0.4 + 0.3 * r())) }))
  const healthy = shuffled.slice(k)

  // Outages: [start, length] in run indices.
  const outageAt = new Map<number, 'full' | 'partial'>()
  for (const kind of ['full', 'partial'] as const) {
    for (let i = 0; i < spec.outages[kind]; i++) {
      const at = Math.floor(spec.runs * (0.05 + 0.9 * r()))
      const len = 1 + Math.floor(3 * r())
      for (let j = 0; j < len; j++) outageAt.set(at + j, kind)
    }
  }

  const runs: SyntheticRun[] = []
  let mainCommit = 0
  let pr = 0
  let prState: { branch: string; commit: number; breaks?: string; runsLeft: number; base: number } | undefined
  // birth: the run index at which the job's (base) default-branch commit was made — when breakages and slowdowns apply.
  const queue: { commit: string; tree: string; branch: string; pr?: string; attempt: number; variant: Record<string, string>; birth: number; prBreaks?: string }[] = []
  let mainBirth = 0
  while (runs.length < spec.runs) {
    if (queue.length === 0) {
      // Next commit: on main, or on a PR branch (a PR lives for a few commits).
      if (!prState && r() < spec.prShare) {
        pr++
        prState = { branch: `feature/pr-${pr}`, commit: 0, runsLeft: 1 + Math.floor(3 * r()), base: mainBirth, ...(r() < spec.prBreakShare ? { breaks: pick(healthy).id } : {}) }
        if (prState.breaks) truth.prBroken.add(prState.breaks)
      }
      if (prState) {
        prState.commit++
        const sha = `pr${String(pr).padStart(4, '0')}c${String(prState.commit).padStart(3, '0')}`
        for (const v of spec.variants)
          queue.push({ commit: sha, tree: `t${sha}`, branch: prState.branch, pr: String(pr), attempt: 1, variant: v, birth: prState.base, ...(prState.breaks ? { prBreaks: prState.breaks } : {}) })
        if (--prState.runsLeft <= 0) prState = undefined
      } else {
        mainCommit++
        mainBirth = runs.length
        const sha = `main${String(mainCommit).padStart(8, '0')}`
        for (const v of spec.variants) queue.push({ commit: sha, tree: `t${sha}`, branch: 'main', attempt: 1, variant: v, birth: mainBirth })
      }
    }
    const job = queue.shift()!
    const idx = runs.length
    const id = `run${String(idx).padStart(6, '0')}`
    truth.runIndex.set(id, idx)
    const outage = outageAt.get(idx)
    if (outage) truth.outageRuns.add(id)
    const fullShare = 0.4 + 0.5 * r()
    const retries = r() < spec.inRunRetries ? 2 : 0
    const groupFails = new Set<string>()
    for (const g of groups) if (r() < g.rate) for (const id of g.ids) groupFails.add(id)
    const progress = job.birth

    const cases: string[] = []
    const failed: string[] = []
    let fails = 0
    for (const t of tests) {
      // One attempt → failure message or undefined.
      const attempt = (first: boolean): string | undefined => {
        if (outage === 'full' && (first ? r() < fullShare : true) && (first || r() < 0.9))
          return `java.net.ConnectException: Connection refused: db-${Math.floor(r() * 9)}.ci.internal:${5432 + Math.floor(r() * 3)}`
        if (outage === 'partial' && t.db) return `org.postgresql.util.PSQLException: connect timed out after ${1000 + Math.floor(r() * 9000)} ms (10.0.3.${Math.floor(r() * 250)}:5432)`
        const b = broken.find((x) => x.id === t.id)
        if (b && progress >= b.from && progress < b.to) return `expected status 200 but was 500 in ${t.name}`
        if (job.prBreaks === t.id) return `NullPointerException in ${t.name}: Cannot invoke "Order.total()" because "order" is null`
        if (groupFails.has(t.id) && (first || r() < 0.3)) return `cache warm-up race: key user:${Math.floor(r() * 1e6)} missing after ${Math.floor(r() * 500)} ms`
        const rate = flakyRate.get(t.id)
        if (rate !== undefined && r() < rate)
          return pick([`Timeout of ${2000 + Math.floor(r() * 3000)}ms exceeded waiting for event`, `expected ${Math.floor(r() * 9)} items but got ${Math.floor(r() * 9)}`])
        return undefined
      }
      const slow = slowed.find((s) => s.id === t.id)
      const factor = slow && progress >= slow.from ? 2 : 1
      const ms = (t.baseMs * factor * (0.85 + 0.3 * r())) / 1000
      const first = attempt(true)
      if (!first) {
        cases.push(`<testcase name="${t.name}" classname="${t.suite}" time="${ms.toFixed(3)}"/>`)
        continue
      }
      failed.push(t.id)
      const msgs = [first]
      let passedOnRetry = false
      for (let i = 0; i < retries; i++) {
        const m = attempt(false)
        if (!m) {
          passedOnRetry = true
          break
        }
        msgs.push(m)
      }
      const trace = (m: string) => `${esc(m)}\n\tat ${t.suite}.${t.name}(${t.suite.split('.').pop()}.java:${40 + (t.name.length % 20)})`
      if (passedOnRetry) {
        cases.push(
          `<testcase name="${t.name}" classname="${t.suite}" time="${ms.toFixed(3)}">${msgs.map((m) => `<flakyFailure message="${esc(m)}" type="java.lang.AssertionError"><stackTrace>${trace(m)}</stackTrace></flakyFailure>`).join('')}</testcase>`,
        )
      } else {
        fails++
        const [m0, ...rest] = msgs
        cases.push(
          `<testcase name="${t.name}" classname="${t.suite}" time="${ms.toFixed(3)}"><failure message="${esc(m0!)}" type="java.lang.AssertionError">${trace(m0!)}</failure>${rest.map((m) => `<rerunFailure message="${esc(m)}" type="java.lang.AssertionError"><stackTrace>${trace(m)}</stackTrace></rerunFailure>`).join('')}</testcase>`,
        )
      }
    }
    for (const s of slowed) {
      if (!truth.slowed.some((x) => x.testId === s.id) && job.branch === 'main' && progress >= s.from) truth.slowed.push({ testId: s.id, commit: job.commit, runId: id })
    }
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd" version="3.0" name="all" tests="${tests.length}" failures="${fails}">\n${cases.join('\n')}\n</testsuite>\n`
    const at = spec.startAt + idx * spec.intervalMs
    runs.push({
      input: {
        id,
        commit: job.commit,
        tree: job.tree,
        branch: job.branch,
        attempt: job.attempt,
        variant: job.variant,
        startedAt: new Date(at).toISOString(),
        pipeline: 'ci',
        ...(job.pr ? { pr: job.pr } : {}),
        infra: { queueMs: Math.round(5000 + 30000 * r()), setupMs: Math.round(20000 + 10000 * r()) },
      },
      xml,
      results: tests.length,
      failed,
      ...(outage ? { outage } : {}),
    })
    if (fails > 0 && r() < spec.rerunRed && job.attempt < 3) queue.unshift({ ...job, attempt: job.attempt + 1 })
  }
  return { runs, truth }
}
