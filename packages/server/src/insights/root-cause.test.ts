import { describe, expect, it } from 'vitest'
import { rankCause, type FailureFacts } from './root-cause.js'

const base: FailureFacts = {
  outcome: 'fail',
  signature: 'sig_1',
  signatureInfraLike: false,
  run: { infraSuspect: false, saturation: [], onDefaultBranch: false },
  test: { status: 'healthy', tier: 'none', score: 0.01, interval: [0, 0.05], n: 100, failStreak: 0 },
  signatureSeenForTest: false,
  signatureSeenInProject: true,
  newTest: false,
}

describe('rankCause', () => {
  it('an outage run ranks infrastructure first, with the outage as evidence', () => {
    const r = rankCause({ ...base, run: { ...base.run, infraSuspect: true, infraReason: '60 of 100 tests failed' } })
    expect(r.class).toBe('infrastructure')
    expect(r.evidence[0]).toMatchObject({ kind: 'outage_pattern', detail: '60 of 100 tests failed' })
  })
  it('resource saturation plus an infrastructure-like error is infrastructure', () => {
    const r = rankCause({ ...base, signatureInfraLike: true, run: { ...base.run, saturation: ['1 process(es) OOM-killed'] } })
    expect(r.class).toBe('infrastructure')
    expect(r.evidence.map((e) => e.kind)).toContain('resource_saturation')
  })
  it('a test also red on the default branch', () => {
    const r = rankCause({ ...base, defaultBranch: { runId: 'm1', commit: 'abc', outcome: 'fail' } })
    expect(r.class).toBe('failing_on_default_branch')
    expect(rankCause({ ...base, test: { ...base.test, status: 'broken', failStreak: 5 } }).class).toBe('failing_on_default_branch')
  })
  it('a known flaky test failing the way it usually does', () => {
    const r = rankCause({
      ...base,
      test: { status: 'flaky', tier: 'confirmed', score: 0.12, interval: [0.08, 0.17], n: 300, failStreak: 0 },
      signatureSeenForTest: true,
      defaultBranch: { runId: 'm1', commit: 'abc', outcome: 'pass' },
    })
    expect(r.class).toBe('known_flaky')
    expect(r.evidence.map((e) => e.kind)).toEqual(['flaky_score', 'known_signature'])
    expect(rankCause({ ...base, outcome: 'flaky' }).class).toBe('known_flaky')
  })
  it('names the evidence of the flaky call', () => {
    const r = rankCause({ ...base, test: { status: 'flaky', tier: 'likely', score: 0.1, interval: [0.05, 0.2], n: 40, failStreak: 0, evidence: ['cross_commit_flips'], flips: 4 } })
    expect(r.evidence[0]!.detail).toContain('evidence: failures came and went across commits (4 flips)')
    expect(r.evidence[0]!.value).toMatchObject({ evidence: ['cross_commit_flips'] })
  })
  it('green on the default branch, new error, passed before on the branch: this change', () => {
    const r = rankCause({ ...base, signatureSeenInProject: false, defaultBranch: { runId: 'm1', commit: 'abc', outcome: 'pass' }, previousOnBranch: { runId: 'p1', commit: 'def', outcome: 'pass' } })
    expect(r.class).toBe('this_change')
    expect(r.confidence).toBeGreaterThan(0.7)
    expect(r.candidates[0]!.class).toBe('this_change')
    expect(r.candidates).toHaveLength(4)
  })
})
