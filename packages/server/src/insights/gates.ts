/** @module insights/gates — deterministic safety gates every remediation passes before it is applied. Pure: facts in, decisions out. */
import type { Remediation } from '@tidepool/sdk'
import type { ActionOutcome, RemediationKind } from './actions.js'
import type { InsightsConfig } from './config.js'

export type GateResult = Remediation['gates'][number]

export interface GateFacts {
  /** Status of the test a quarantine / snapshot targets. */
  testStatus?: 'flaky' | 'broken' | 'healthy' | undefined
  testScore?: number | undefined
  alreadyQuarantined?: boolean | undefined
  /** The run a rerun targets is red, and how many tests / minutes the rerun would take. */
  runRed?: boolean | undefined
  rerunTests?: number | undefined
  rerunMinutes?: number | undefined
  /** Counters of the project. */
  autoLastHour: number
  rerunsForRun: number
  rerunMinutesToday: number
  quarantined: number
  totalTests: number
}

export interface GateInput {
  kind: RemediationKind
  params: Record<string, unknown>
  /** true: deciding whether to apply automatically; false: a human asked to apply it. */
  auto: boolean
  /** Mode in force for this run (its A/B arm, or the project mode). */
  mode: 'suggest' | 'auto'
  allowedActions: readonly RemediationKind[]
  cfg: InsightsConfig['remediation']
  facts: GateFacts
  /** Undefined when no executor supports the kind. */
  dryRun: ActionOutcome | undefined
  policy: { allow: boolean; reason: string }
}

export interface GateDecision {
  gates: GateResult[]
  /** A safety or blast-radius gate failed: never apply, not even by hand. */
  refused: boolean
  /** Every gate an application needs passed (for auto: all of them, mode included). */
  mayApply: boolean
  /** The first gate that blocks application, if any. */
  blockedBy?: GateResult | undefined
}

const day = 86_400_000

export function evaluateGates(i: GateInput): GateDecision {
  const { cfg, facts: f } = i
  const gates: GateResult[] = []
  const add = (gate: GateResult['gate'], pass: boolean, reason: string) => gates.push({ gate, pass, reason })

  // allow-list: only for automatic application (a human may apply anything that is safe).
  if (i.auto) {
    const ok = i.allowedActions.includes(i.kind)
    add('allowlist', ok, ok ? `${i.kind} is allow-listed for automatic application` : `${i.kind} is not in allowedActions (${i.allowedActions.join(', ') || 'none'})`)
  }

  // safety: what must never happen.
  add('safety', ...safety(i))

  // rate and budget: automatic actions only.
  if (i.auto) {
    const rateOk = f.autoLastHour < cfg.maxAutoPerHour
    add('rate', rateOk, `${f.autoLastHour} automatic action(s) in the last hour; limit ${cfg.maxAutoPerHour}`)
    if (i.kind === 'rerun') {
      const minutes = f.rerunMinutes ?? 0
      const ok = f.rerunsForRun < cfg.maxRerunsPerRun && f.rerunMinutesToday + minutes <= cfg.rerunBudgetMinutesPerDay
      add(
        'budget',
        ok,
        f.rerunsForRun >= cfg.maxRerunsPerRun
          ? `run already re-run ${f.rerunsForRun} time(s); budget ${cfg.maxRerunsPerRun} per run`
          : `${round(f.rerunMinutesToday)} + ${round(minutes)} rerun minutes today ${ok ? '≤' : '>'} budget ${cfg.rerunBudgetMinutesPerDay}`,
      )
    } else add('budget', true, 'no budget applies')
  }

  // blast radius.
  add('blast_radius', ...blastRadius(i))

  // dry run: the executor must say it can do it, without doing it.
  if (!i.dryRun) add('dry_run', false, `no executor can carry out ${i.kind} here`)
  else add('dry_run', i.dryRun.ok, i.dryRun.detail)

  add('policy', i.policy.allow, i.policy.reason)

  if (i.auto) add('mode', i.mode === 'auto', i.mode === 'auto' ? 'mode auto: apply what passes every gate' : 'mode suggest: recommend only')

  const refused = gates.some((g) => !g.pass && (g.gate === 'safety' || g.gate === 'blast_radius'))
  const blockedBy = gates.find((g) => !g.pass)
  return { gates, refused, mayApply: blockedBy === undefined, blockedBy }
}

function safety(i: GateInput): [boolean, string] {
  const f = i.facts
  switch (i.kind) {
    case 'quarantine': {
      if (f.testStatus === 'broken') return [false, 'the test is broken (failing consistently on the default branch), not flaky: fix it, never quarantine it']
      if (f.testStatus !== 'flaky') return [false, `only flaky tests are quarantined (status ${f.testStatus ?? 'unknown'})`]
      if (f.alreadyQuarantined) return [false, 'already quarantined']
      if (typeof i.params.owner !== 'string' || !i.params.owner) return [false, 'a quarantine needs an owner']
      const exp = Date.parse(String(i.params.expiresAt ?? ''))
      const created = Date.parse(String(i.params.from ?? '')) || exp - i.cfg.quarantineDays * day
      if (Number.isNaN(exp)) return [false, 'a quarantine needs an expiry']
      if (exp - created > i.cfg.quarantineDays * day + 1000) return [false, `expiry is more than ${i.cfg.quarantineDays} days away`]
      if ((f.testScore ?? 0) < i.cfg.quarantineMinScore) return [false, `failure rate ${pct(f.testScore ?? 0)} is below quarantineMinScore ${pct(i.cfg.quarantineMinScore)}`]
      return [true, `flaky test, owner ${i.params.owner}, expires ${new Date(exp).toISOString()}`]
    }
    case 'rerun':
      if (!f.runRed) return [false, 'the run is not red: nothing to re-run']
      return [true, 'every failure of the run is known flaky or infrastructure']
    case 'snapshot_on_failure':
      if (f.testStatus === 'broken') return [false, 'the test is broken: it fails every time, reproduce it directly']
      return [true, 'captures state on the next failure; changes nothing now']
    case 'resize':
    case 'reset_state':
    case 'reseed':
      if (typeof i.params.sandboxId !== 'string') return [false, 'no sandbox to act on (the run has no infra.sandboxId)']
      return [true, `acts on sandbox ${i.params.sandboxId} only`]
  }
}

function blastRadius(i: GateInput): [boolean, string] {
  const f = i.facts
  const cfg = i.cfg
  switch (i.kind) {
    case 'quarantine': {
      const limit = Math.min(cfg.maxQuarantined, Math.max(1, Math.floor(cfg.maxQuarantineShare * f.totalTests)))
      return f.quarantined + 1 <= limit
        ? [true, `${f.quarantined + 1} of at most ${limit} quarantined tests`]
        : [false, `${f.quarantined} tests already quarantined; limit ${limit} (maxQuarantined ${cfg.maxQuarantined}, ${pct(cfg.maxQuarantineShare)} of ${f.totalTests})`]
    }
    case 'rerun': {
      const n = f.rerunTests ?? 0
      return n <= cfg.maxRerunTests ? [true, `${n} test(s) to re-run ≤ ${cfg.maxRerunTests}`] : [false, `${n} tests to re-run > maxRerunTests ${cfg.maxRerunTests}`]
    }
    case 'resize': {
      const eff = i.dryRun?.effect as { factor?: number; memoryMb?: { to: number }; cpu?: { to: number } } | undefined
      const factor = typeof i.params.factor === 'number' ? i.params.factor : (eff?.factor ?? 2)
      if (factor > cfg.resizeMaxFactor) return [false, `factor ${factor} > resizeMaxFactor ${cfg.resizeMaxFactor}`]
      if (eff?.memoryMb && eff.memoryMb.to > cfg.resizeMaxMemoryMb) return [false, `memory ${eff.memoryMb.to} MiB > resizeMaxMemoryMb ${cfg.resizeMaxMemoryMb}`]
      if (eff?.cpu && eff.cpu.to > cfg.resizeMaxCpu) return [false, `cpu ${eff.cpu.to} > resizeMaxCpu ${cfg.resizeMaxCpu}`]
      return [true, `one sandbox, factor ${factor}`]
    }
    default:
      return [true, 'one sandbox or test']
  }
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`
}
function round(x: number): number {
  return Math.round(x * 10) / 10
}

/** Decides, per remediation, whether policy allows it. The default policy keeps `requireApproval` kinds manual. */
export interface RemediationPolicy {
  decide(req: {
    project: string
    kind: RemediationKind
    params: Record<string, unknown>
    auto: boolean
    actor: string
  }): Promise<{ allow: boolean; reason: string }> | { allow: boolean; reason: string }
}

export function defaultPolicy(cfg: InsightsConfig['remediation']): RemediationPolicy {
  return {
    decide: ({ kind, auto }) =>
      auto && cfg.requireApproval.includes(kind)
        ? { allow: false, reason: `${kind} requires a human approval (insights.remediation.requireApproval)` }
        : { allow: true, reason: auto ? 'default policy allows it' : 'default policy allows a human to apply it' },
  }
}
