import { describe, expect, it } from 'vitest'
import { InsightsConfig } from './config.js'
import { defaultPolicy, evaluateGates, type GateInput } from './gates.js'

const cfg = InsightsConfig.parse({}).remediation
const now = Date.parse('2026-01-05T00:00:00Z')
const facts = { autoLastHour: 0, rerunsForRun: 0, rerunMinutesToday: 0, quarantined: 0, totalTests: 1000 }
const allow = { allow: true, reason: 'ok' }
const quarantine = (over: Partial<GateInput> = {}): GateInput => ({
  kind: 'quarantine',
  params: { testId: 't1', owner: 'team-a', from: new Date(now).toISOString(), expiresAt: new Date(now + 14 * 86_400_000).toISOString() },
  auto: true,
  mode: 'auto',
  allowedActions: cfg.allowedActions,
  cfg,
  facts: { ...facts, testStatus: 'flaky', testScore: 0.1 },
  dryRun: { ok: true, detail: 'would quarantine' },
  policy: allow,
  ...over,
})
const rerun = (over: Partial<GateInput> = {}, f: Partial<GateInput['facts']> = {}): GateInput => ({
  kind: 'rerun',
  params: { runId: 'r1', tests: ['a', 'b'], estimatedMinutes: 12 },
  auto: true,
  mode: 'auto',
  allowedActions: cfg.allowedActions,
  cfg,
  facts: { ...facts, runRed: true, rerunTests: 2, rerunMinutes: 12, ...f },
  dryRun: { ok: true, detail: 'would re-run' },
  policy: allow,
  ...over,
})

describe('evaluateGates', () => {
  it('passes a safe quarantine of a flaky test in auto mode, with every gate recorded', () => {
    const d = evaluateGates(quarantine())
    expect(d.mayApply).toBe(true)
    expect(d.gates.map((g) => g.gate)).toEqual(['allowlist', 'safety', 'rate', 'budget', 'blast_radius', 'dry_run', 'policy', 'mode'])
  })
  it('refuses to quarantine a broken test, whoever asks', () => {
    for (const auto of [true, false]) {
      const d = evaluateGates(quarantine({ auto, facts: { ...facts, testStatus: 'broken', testScore: 1 } }))
      expect(d.refused).toBe(true)
      expect(d.blockedBy).toMatchObject({ gate: 'safety' })
      expect(d.blockedBy!.reason).toMatch(/broken/)
    }
  })
  it('refuses a quarantine without owner, with a too-long expiry, or of a barely flaky test', () => {
    expect(evaluateGates(quarantine({ params: { testId: 't1', expiresAt: new Date(now + 86_400_000).toISOString() } })).blockedBy?.reason).toMatch(/owner/)
    expect(evaluateGates(quarantine({ params: { testId: 't1', owner: 'a', from: new Date(now).toISOString(), expiresAt: new Date(now + 90 * 86_400_000).toISOString() } })).blockedBy?.reason).toMatch(
      /14 days/,
    )
    expect(evaluateGates(quarantine({ facts: { ...facts, testStatus: 'flaky', testScore: 0.001 } })).blockedBy?.gate).toBe('safety')
  })
  it('bounds the blast radius of quarantines', () => {
    const d = evaluateGates(quarantine({ facts: { ...facts, testStatus: 'flaky', testScore: 0.1, quarantined: 25 } }))
    expect(d).toMatchObject({ refused: true, blockedBy: { gate: 'blast_radius' } })
    const small = evaluateGates(quarantine({ facts: { ...facts, testStatus: 'flaky', testScore: 0.1, quarantined: 2, totalTests: 40 } }))
    expect(small.blockedBy?.gate).toBe('blast_radius') // 5 % of 40 tests is 2
  })
  it('refuses reruns over budget: per run and per day; and over the rate limit', () => {
    expect(evaluateGates(rerun({}, { rerunsForRun: 2 })).blockedBy).toMatchObject({ gate: 'budget' })
    expect(evaluateGates(rerun({}, { rerunMinutesToday: 595 })).blockedBy).toMatchObject({ gate: 'budget' })
    expect(evaluateGates(rerun({}, { autoLastHour: 20 })).blockedBy).toMatchObject({ gate: 'rate' })
    expect(evaluateGates(rerun({}, { rerunTests: 500 })).blockedBy).toMatchObject({ gate: 'blast_radius' })
    expect(evaluateGates(rerun({}, { runRed: false })).blockedBy).toMatchObject({ gate: 'safety' })
    // budget and rate bind automatic actions only
    expect(evaluateGates(rerun({ auto: false }, { rerunsForRun: 5, autoLastHour: 99 })).mayApply).toBe(true)
  })
  it('never applies what is not allow-listed, fails its dry run, or the policy denies', () => {
    expect(evaluateGates(quarantine({ allowedActions: ['rerun'] })).blockedBy).toMatchObject({ gate: 'allowlist' })
    expect(evaluateGates(quarantine({ dryRun: { ok: false, detail: 'sandbox gone' } })).blockedBy).toMatchObject({ gate: 'dry_run', reason: 'sandbox gone' })
    expect(evaluateGates(quarantine({ dryRun: undefined })).blockedBy?.gate).toBe('dry_run')
    expect(evaluateGates(quarantine({ policy: { allow: false, reason: 'frozen' } })).blockedBy).toMatchObject({ gate: 'policy' })
  })
  it('resize is bounded by factor and absolute limits (from the dry run effect)', () => {
    const resize = (factor: number, to: number): GateInput => ({
      kind: 'resize',
      params: { sandboxId: 'sbx_abc123', dimension: 'memoryMb', factor },
      auto: true,
      mode: 'auto',
      allowedActions: cfg.allowedActions,
      cfg,
      facts,
      dryRun: { ok: true, detail: 'x', effect: { memoryMb: { from: to / factor, to }, factor } },
      policy: allow,
    })
    expect(evaluateGates(resize(2, 1024)).mayApply).toBe(true)
    expect(evaluateGates(resize(4, 2048)).blockedBy?.gate).toBe('blast_radius')
    expect(evaluateGates(resize(2, 65_536)).blockedBy?.gate).toBe('blast_radius')
  })
  it('suggest mode: everything passes but the mode gate, so nothing is applied', () => {
    const d = evaluateGates(quarantine({ mode: 'suggest' }))
    expect(d).toMatchObject({ mayApply: false, refused: false, blockedBy: { gate: 'mode' } })
  })
  it('the default policy keeps reset and re-seed manual', () => {
    const p = defaultPolicy(cfg)
    expect(p.decide({ project: 'p', kind: 'reset_state', params: {}, auto: true, actor: 'insights' })).toMatchObject({ allow: false })
    expect(p.decide({ project: 'p', kind: 'reset_state', params: {}, auto: false, actor: 'tok (alice)' })).toMatchObject({ allow: true })
  })
})
