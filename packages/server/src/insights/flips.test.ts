import { describe, expect, it } from 'vitest'
import type { Entry, RunInfo } from './flakiness.js'
import { analyzeFlips, changedTestFile, defaultFlipParams, poissonSf } from './flips.js'

let n = 0
/** One default-branch commit per call (a new code key), on the given variant. */
function at(commit: number, outcome: 'pass' | 'fail', over: Partial<RunInfo> = {}): Entry {
  n++
  const run: RunInfo = { id: `r${n}`, at: n * 1000, commit: `c${commit}`, codeKey: `c${commit}`, variantKey: 'v1', branch: 'main', isDefault: true, infra: false, attempt: 1, ...over }
  return { run, outcome, attempts: 1, fails: outcome === 'fail' ? 1 : 0 }
}
/** A history from a pattern: one character per commit, `.` pass, `x` fail. */
const history = (pattern: string, over: Partial<RunInfo> = {}) => [...pattern].map((c, i) => at(i, c === 'x' ? 'fail' : 'pass', over))

describe('analyzeFlips', () => {
  it('failures that come and go across commits are flaky; the deciding episode dates the evidence', () => {
    const es = history('....x.....x......x....')
    const f = analyzeFlips(es)
    expect(f).toMatchObject({ flaky: true, flipEpisodes: 3, fixes: 0, open: false, flips: 6 })
    // The second episode ended at the pass after commit 10 (index 11).
    expect(f.evidenceAt).toBe(es[11]!.run.at)
    expect(f.breakModelP).toBeLessThan(defaultFlipParams.flipImprobability)
  })

  it('the case of issue #16: failed the final attempt in 4 of 20 runs, each on its own commit, scattered', () => {
    const f = analyzeFlips(history('x..x......x..x......'))
    expect(f).toMatchObject({ flaky: true, flipEpisodes: 4, commits: 20 })
  })

  it('one failure then passes is not flaky (a fix after a short break), and neither is a clean history', () => {
    expect(analyzeFlips(history('.....x.........')).flaky).toBe(false)
    expect(analyzeFlips(history('...............')).flipEpisodes).toBe(0)
  })

  it('a break followed by persistent failure is an open episode, never flips', () => {
    const f = analyzeFlips(history('..........xxxxxxxxx'))
    expect(f).toMatchObject({ flaky: false, open: true, flipEpisodes: 0 })
    expect(f.breakRuns.size).toBe(9)
  })

  it('a fixed test is not flaky for having failed: a long failure that ends is a fix, its runs leave the rate', () => {
    const f = analyzeFlips(history('.....xxxxxxx.........x..........'))
    expect(f).toMatchObject({ flaky: false, fixes: 1, flipEpisodes: 1 })
    expect(f.breakRuns.size).toBe(7)
  })

  it('a break on every variant at one commit is one episode, not one per variant', () => {
    const es: Entry[] = []
    for (let c = 0; c < 12; c++) for (const v of ['v1', 'v2']) es.push(at(c, c === 5 ? 'fail' : 'pass', { variantKey: v }))
    const f = analyzeFlips(es)
    expect(f).toMatchObject({ flipEpisodes: 1, flaky: false })
  })

  it('failures on separate variants at separate commits are separate episodes', () => {
    const es: Entry[] = []
    for (let c = 0; c < 12; c++) for (const v of ['v1', 'v2']) es.push(at(c, (c === 3 && v === 'v1') || (c === 8 && v === 'v2') ? 'fail' : 'pass', { variantKey: v }))
    expect(analyzeFlips(es)).toMatchObject({ flipEpisodes: 2, flaky: true })
  })

  it("a failure on a commit that changed the test's own file is explained by the change, not flaky evidence", () => {
    const pattern = 'x..x......x..x......'
    // Each failing commit changed the test's file (and the next commit changed it back): breaks and fixes.
    const es = [...pattern].map((c, i) => at(i, c === 'x' ? 'fail' : 'pass', c === 'x' ? { changedFiles: new Set(['packages/cart/src/cart.test.ts', 'README.md']) } : {}))
    const explained = analyzeFlips(es, defaultFlipParams, 'src/cart.test.ts')
    expect(explained).toMatchObject({ flaky: false, flipEpisodes: 0, fixes: 4, explained: 4 })
    expect(explained.breakRuns.size).toBe(4)
    expect(explained.episodes.every((e) => e.explained && e.kind === 'fix')).toBe(true)
    // The same failures with changes elsewhere (or untold) are flips: flaky.
    const elsewhere = [...pattern].map((c, i) => at(i, c === 'x' ? 'fail' : 'pass', { changedFiles: new Set(['src/other.ts']) }))
    expect(analyzeFlips(elsewhere, defaultFlipParams, 'src/cart.test.ts')).toMatchObject({ flaky: true, flipEpisodes: 4, explained: 0 })
    expect(analyzeFlips(es)).toMatchObject({ flaky: true, flipEpisodes: 4 }) // no test file known: nothing is explained
    // Two explained, two not: two flip episodes are still flaky evidence.
    const half = [...pattern].map((c, i) => at(i, c === 'x' ? 'fail' : 'pass', c === 'x' && i < 5 ? { changedFiles: new Set(['src/cart.test.ts']) } : {}))
    expect(analyzeFlips(half, defaultFlipParams, 'src/cart.test.ts')).toMatchObject({ flipEpisodes: 2, explained: 2, flaky: true })
  })

  it('matches the test file whole or as a /-bounded suffix, never a partial name', () => {
    expect(changedTestFile(new Set(['a/src/x.test.ts']), 'src/x.test.ts')).toBe(true)
    expect(changedTestFile(new Set(['x.test.ts']), 'pkg/x.test.ts')).toBe(true)
    expect(changedTestFile(new Set(['src/ax.test.ts']), 'x.test.ts')).toBe(false)
    expect(changedTestFile(undefined, 'x.test.ts')).toBe(false)
    expect(changedTestFile(new Set(['x.test.ts']), undefined)).toBe(false)
  })

  it('infrastructure suspects, skips and other branches are left out', () => {
    const es = [...history('...x...', { infra: true }), ...history('..x..x..', { branch: 'feature/a', isDefault: false }), { ...at(20, 'fail'), outcome: 'skip' as const }, at(21, 'pass')]
    expect(analyzeFlips(es)).toMatchObject({ flipEpisodes: 0, flaky: false })
  })

  it('over a long history more episodes are needed (break/fix pairs become plausible)', () => {
    const p = { ...defaultFlipParams, breakRate: 0.002 }
    const long = `${'.'.repeat(300)}x....x${'.'.repeat(300)}`
    expect(analyzeFlips(history(long), p).flaky).toBe(false)
    expect(analyzeFlips(history(`${long}x....x....x.`), p).flaky).toBe(true)
  })
})

describe('poissonSf', () => {
  it('is the upper tail', () => {
    expect(poissonSf(0, 2)).toBe(1)
    expect(poissonSf(1, 2)).toBeCloseTo(1 - Math.exp(-2))
    expect(poissonSf(2, 0.3)).toBeCloseTo(1 - Math.exp(-0.3) * 1.3)
  })
})
