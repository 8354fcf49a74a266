/** @module insights/root-cause — ranks the likely cause of one failing test in a red run, with evidence. */
import type { TriageFailure } from '@tidepool/sdk'

export type CauseClass = TriageFailure['class']

/** Everything known about one failure, gathered by the triage. */
export interface FailureFacts {
  outcome: 'fail' | 'flaky'
  signature?: string | undefined
  signatureInfraLike: boolean
  run: { infraSuspect: boolean; infraReason?: string | undefined; saturation: string[]; onDefaultBranch: boolean }
  test: {
    status: 'flaky' | 'broken' | 'healthy'
    tier: string
    score: number
    interval: [number, number]
    n: number
    failStreak: number
    cluster?: string | undefined
    evidence?: readonly string[] | undefined
    flips?: number | undefined
  }
  /** The newest default-branch run before this one that ran the test. */
  defaultBranch?: { runId: string; commit: string; outcome: 'pass' | 'fail' | 'skip' } | undefined
  /** The previous run of the same branch (and variant) that ran the test. */
  previousOnBranch?: { runId: string; commit: string; outcome: 'pass' | 'fail' | 'skip' } | undefined
  /** This test failed with this signature before this run. */
  signatureSeenForTest: boolean
  /** This signature was seen in the project before this run. */
  signatureSeenInProject: boolean
  /** The test's first appearance is this run. */
  newTest: boolean
}

export interface Ranked {
  class: CauseClass
  confidence: number
  evidence: TriageFailure['evidence']
  candidates: TriageFailure['candidates']
}

/** Precedence when confidences tie: infrastructure → default branch → known flaky → this change. */
const precedence: CauseClass[] = ['infrastructure', 'failing_on_default_branch', 'known_flaky', 'this_change']

export function rankCause(f: FailureFacts): Ranked {
  const ev: Record<CauseClass, TriageFailure['evidence']> = { infrastructure: [], failing_on_default_branch: [], known_flaky: [], this_change: [] }
  const conf: Record<CauseClass, number> = { infrastructure: 0.05, failing_on_default_branch: 0.05, known_flaky: 0.05, this_change: 0.3 }

  // Infrastructure: outage pattern of the run, resource saturation, infrastructure-like error.
  if (f.run.infraSuspect) {
    conf.infrastructure = 0.9
    ev.infrastructure.push({ kind: 'outage_pattern', detail: f.run.infraReason ?? 'the run looks like an infrastructure outage' })
  }
  if (f.run.saturation.length > 0) {
    conf.infrastructure = Math.max(conf.infrastructure, f.signatureInfraLike ? 0.85 : 0.7)
    for (const s of f.run.saturation) ev.infrastructure.push({ kind: 'resource_saturation', detail: s })
  }
  if (f.signatureInfraLike) {
    conf.infrastructure = Math.max(conf.infrastructure, 0.6)
    ev.infrastructure.push({ kind: 'infra_like_error', detail: 'the error looks like network, capacity or resource trouble', value: f.signature })
  }

  // Also failing on the default branch.
  if (f.test.status === 'broken') {
    conf.failing_on_default_branch = 0.92
    ev.failing_on_default_branch.push({ kind: 'broken', detail: `failing in the last ${f.test.failStreak} default-branch runs`, value: f.test.failStreak })
  }
  if (f.defaultBranch?.outcome === 'fail') {
    conf.failing_on_default_branch = Math.max(conf.failing_on_default_branch, 0.8)
    ev.failing_on_default_branch.push({
      kind: 'default_branch_red',
      detail: `also failed on the default branch in run ${f.defaultBranch.runId} (${short(f.defaultBranch.commit)})`,
      value: f.defaultBranch.runId,
    })
  }

  // Known flaky.
  if (f.outcome === 'flaky') {
    conf.known_flaky = 0.95
    ev.known_flaky.push({ kind: 'passed_on_retry', detail: 'failed, then passed on an in-run retry at the same code' })
  }
  if (f.test.status === 'flaky') {
    const c = 0.55 + 0.25 * Math.min(1, f.test.score / 0.1) + (f.test.tier === 'confirmed' ? 0.08 : 0) + (f.signatureSeenForTest ? 0.07 : 0)
    conf.known_flaky = Math.max(conf.known_flaky, Math.min(0.95, c))
    ev.known_flaky.push({
      kind: 'flaky_score',
      detail: `flaky (${f.test.tier}): failure rate ${pctl(f.test.score)} [${pctl(f.test.interval[0])}–${pctl(f.test.interval[1])}] over ${f.test.n} attempts${evidenceText(f.test.evidence, f.test.flips)}`,
      value: { score: f.test.score, interval: f.test.interval, n: f.test.n, ...(f.test.evidence?.length ? { evidence: [...f.test.evidence] } : {}) },
    })
    if (f.signatureSeenForTest) ev.known_flaky.push({ kind: 'known_signature', detail: 'it failed this way before', value: f.signature })
  } else if (f.test.tier === 'suspect') {
    conf.known_flaky = Math.max(conf.known_flaky, 0.3)
    ev.known_flaky.push({ kind: 'intermittent', detail: `failed before without same-code evidence (rate ${pctl(f.test.score)} over ${f.test.n} attempts)` })
  }

  // Likely caused by this change.
  if (f.defaultBranch?.outcome === 'pass') {
    conf.this_change += 0.25
    ev.this_change.push({ kind: 'passes_on_default_branch', detail: `passed on the default branch in run ${f.defaultBranch.runId} (${short(f.defaultBranch.commit)})` })
  }
  if (!f.signatureSeenInProject) {
    conf.this_change += 0.15
    ev.this_change.push({ kind: 'new_signature', detail: 'this error was never seen in the project before', value: f.signature })
  } else if (!f.signatureSeenForTest) {
    conf.this_change += 0.05
    ev.this_change.push({ kind: 'new_for_test', detail: 'this test never failed this way before', value: f.signature })
  }
  if (f.previousOnBranch?.outcome === 'pass') {
    conf.this_change += 0.1
    ev.this_change.push({ kind: 'passed_before_on_branch', detail: `passed in the previous run of this branch (${short(f.previousOnBranch.commit)})` })
  }
  if (f.newTest) {
    conf.this_change += 0.1
    ev.this_change.push({ kind: 'new_test', detail: 'the test first appears in this run' })
  }
  // Other strong explanations make "this change" less likely.
  const other = Math.max(conf.infrastructure, conf.failing_on_default_branch, conf.known_flaky)
  conf.this_change = Math.min(0.95, conf.this_change * (1 - 0.5 * other))

  const candidates = precedence
    .map((c) => ({ class: c, confidence: Math.round(conf[c] * 100) / 100 }))
    .sort((a, b) => b.confidence - a.confidence || precedence.indexOf(a.class) - precedence.indexOf(b.class))
  const top = candidates[0]!
  return { class: top.class, confidence: top.confidence, evidence: ev[top.class], candidates }
}

function short(sha: string): string {
  return sha.length > 12 ? sha.slice(0, 12) : sha
}

function pctl(x: number): string {
  return `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`
}

const evidenceLabel: Record<string, string> = {
  same_tree_retry: 'a CI re-run of the same tree passed',
  in_run_retry: 'a retry inside a run passed',
  cross_commit_flips: 'failures came and went across commits',
}

/** "; evidence: …" naming what made the flaky call. */
function evidenceText(kinds: readonly string[] | undefined, flips: number | undefined): string {
  if (!kinds?.length) return ''
  return `; evidence: ${kinds.map((k) => (k === 'cross_commit_flips' && flips ? `${evidenceLabel[k]} (${flips} flips)` : (evidenceLabel[k] ?? k))).join(', ')}`
}
