import { describe, expect, it } from 'vitest'
import { judgeTest, type Entry, type FlakinessParams, type RunInfo } from './flakiness.js'

const params: FlakinessParams = { historyRuns: 300, credibleLevel: 0.9, brokenAfter: 3, brokenImprobability: 0.001, recoverAfterRuns: 30, recoverImprobability: 0.01 }
let n = 0
function run(over: Partial<RunInfo> = {}): RunInfo {
  n++
  return { id: `r${n}`, at: n * 1000, commit: `c${n}`, codeKey: `c${n}`, variantKey: 'os=linux', branch: 'main', isDefault: true, infra: false, attempt: 1, ...over }
}
const pass = (r: RunInfo): Entry => ({ run: r, outcome: 'pass', attempts: 1, fails: 0 })
const fail = (r: RunInfo): Entry => ({ run: r, outcome: 'fail', attempts: 1, fails: 1 })

describe('judgeTest', () => {
  it('healthy with no failures; the score is a posterior, never a bare label', () => {
    const v = judgeTest(
      Array.from({ length: 20 }, () => pass(run())),
      params,
    )
    expect(v).toMatchObject({ status: 'healthy', tier: 'none', n: 20, fails: 0, evidence: 0 })
    expect(v.score.mean).toBeCloseTo(1 / 22)
    expect(v.score.lo).toBeLessThan(v.score.mean)
    expect(v.score.hi).toBeGreaterThan(v.score.mean)
  })

  it('pass and fail at the same code key and variant is flaky evidence; a single retry flip is confirmed', () => {
    const a = run({ codeKey: 'tree1' })
    const b = run({ codeKey: 'tree1', attempt: 2 })
    const v = judgeTest([pass(run()), fail(a), pass(b), pass(run())], params)
    expect(v).toMatchObject({ status: 'flaky', tier: 'likely', evidence: 1 })
    expect(v.since).toBe(b.at)
    const flip = judgeTest([pass(run()), { run: run(), outcome: 'pass', attempts: 2, fails: 1 }], params)
    expect(flip).toMatchObject({ status: 'flaky', tier: 'confirmed', inRunFlips: 1 })
  })

  it('the same code key on another variant is not evidence', () => {
    const v = judgeTest([fail(run({ codeKey: 'k', variantKey: 'os=mac' })), pass(run({ codeKey: 'k', variantKey: 'os=linux' }))], params)
    expect(v).toMatchObject({ status: 'healthy', tier: 'suspect', evidence: 0 })
  })

  it('failures in infrastructure-suspect runs are excluded from the score and the evidence', () => {
    const v = judgeTest([pass(run({ codeKey: 'k' })), fail(run({ codeKey: 'k', infra: true })), pass(run())], params)
    expect(v).toMatchObject({ status: 'healthy', excluded: 1, fails: 0, evidence: 0 })
  })

  it('consecutive failures on the default branch are broken, not flaky', () => {
    const es = [...Array.from({ length: 30 }, () => pass(run())), fail(run()), fail(run({ branch: 'feature/x', isDefault: false })), fail(run()), fail(run())]
    const v = judgeTest(es, params)
    expect(v).toMatchObject({ status: 'broken', failStreak: 3 })
  })

  it('a flaky test with a short red streak stays flaky (the streak is likely under its own rate)', () => {
    const es: Entry[] = []
    for (let i = 0; i < 40; i++) {
      const k = `k${i}`
      const r1 = run({ codeKey: k })
      if (i % 3 === 0) es.push(fail(r1), pass(run({ codeKey: k, attempt: 2 })))
      else es.push(pass(r1))
    }
    es.push(fail(run()), fail(run()), fail(run()))
    expect(judgeTest(es, params).status).toBe('flaky')
  })

  it('a re-run passing at the failing code key breaks a streak: not broken', () => {
    const es = [
      ...Array.from({ length: 20 }, () => pass(run())),
      fail(run({ codeKey: 'x' })),
      fail(run({ codeKey: 'y' })),
      fail(run({ codeKey: 'z' })),
      pass(run({ codeKey: 'z', isDefault: false, branch: 'pr' })),
    ]
    expect(judgeTest(es, params).status).not.toBe('broken')
  })

  it('recovers with hysteresis: only after a clean streak improbable under its failure rate', () => {
    const es: Entry[] = []
    for (let i = 0; i < 20; i++) es.push(fail(run({ codeKey: `f${i}` })), pass(run({ codeKey: `f${i}`, attempt: 2 })), pass(run()), pass(run()))
    expect(judgeTest(es, params).status).toBe('flaky')
    // 3 clean runs ended the last cycle; 25 more make 28 < recoverAfterRuns (30): still flaky
    for (let i = 0; i < 25; i++) es.push(pass(run()))
    expect(judgeTest(es, params)).toMatchObject({ status: 'flaky' })
    for (let i = 0; i < 5; i++) es.push(pass(run()))
    const v = judgeTest(es, params)
    expect(v).toMatchObject({ status: 'healthy', tier: 'recovered' })
    // A rare flaker (1 failure in 100) needs a much longer clean streak than 30 runs.
    const rare: Entry[] = []
    for (let i = 0; i < 100; i++) rare.push(pass(run()))
    rare.push(fail(run({ codeKey: 'r' })), pass(run({ codeKey: 'r', attempt: 2 })))
    for (let i = 0; i < 60; i++) rare.push(pass(run()))
    expect(judgeTest(rare, params).status).toBe('flaky')
  })

  it('only the newest historyRuns entries count', () => {
    const es = [fail(run({ codeKey: 'old' })), pass(run({ codeKey: 'old', attempt: 2 })), ...Array.from({ length: 10 }, () => pass(run()))]
    expect(judgeTest(es, { ...params, historyRuns: 10 })).toMatchObject({ status: 'healthy', evidence: 0, n: 10 })
  })

  it('failures that come and go across commits are flaky with cross_commit_flips evidence, scored without a fix', () => {
    const es: Entry[] = []
    for (let i = 0; i < 40; i++) es.push(i === 8 || i === 20 || i === 31 ? fail(run()) : pass(run()))
    const v = judgeTest(es, params)
    expect(v).toMatchObject({ status: 'flaky', tier: 'confirmed', evidenceKinds: ['cross_commit_flips'], flipEpisodes: 3, flips: 6, evidence: 0, fails: 3, n: 40 })
    expect(v.since).toBe(es[21]!.run.at)
    // A break that was fixed (8 failing commits) on top: its runs leave the score, the verdict stays.
    const fixed = [...es, ...Array.from({ length: 8 }, () => fail(run())), ...Array.from({ length: 5 }, () => pass(run()))]
    const w = judgeTest(fixed, params)
    expect(w).toMatchObject({ status: 'flaky', fails: 3, n: 45 })
    expect(w.score.mean).toBeCloseTo(4 / 47)
  })

  it('a fixed test is not flaky for having failed once; a broken one stays broken', () => {
    const fixed = [...Array.from({ length: 20 }, () => pass(run())), ...Array.from({ length: 6 }, () => fail(run())), ...Array.from({ length: 20 }, () => pass(run()))]
    expect(judgeTest(fixed, params)).toMatchObject({ status: 'healthy', evidenceKinds: [], flipEpisodes: 0 })
    const quick = [...Array.from({ length: 20 }, () => pass(run())), fail(run()), ...Array.from({ length: 20 }, () => pass(run()))]
    expect(judgeTest(quick, params)).toMatchObject({ status: 'healthy', tier: 'suspect', flipEpisodes: 1 })
    const broken = [...Array.from({ length: 20 }, () => pass(run())), fail(run()), pass(run()), ...Array.from({ length: 10 }, () => fail(run()))]
    expect(judgeTest(broken, params)).toMatchObject({ status: 'broken', evidenceKinds: [] })
  })

  it('names the evidence: a CI re-run of the same tree, a retry inside a run', () => {
    const a = run({ codeKey: 't1' })
    const same = judgeTest([pass(run()), fail(a), pass(run({ codeKey: 't1', attempt: 2 })), pass(run())], params)
    expect(same.evidenceKinds).toEqual(['same_tree_retry'])
    const inRun = judgeTest([pass(run()), { run: run(), outcome: 'pass', attempts: 2, fails: 1 }], params)
    expect(inRun.evidenceKinds).toEqual(['in_run_retry'])
  })
})
