/** @module insights/recommend — which remediations a red run calls for (pure: failures, saturation and settings in, proposals out). */
import type { InfraMetrics, Remediation, TriageFailure } from '@tidepool/sdk'
import type { RemediationKind } from './actions.js'
import type { InsightsEnv } from './deps.js'
import { parseJson } from './runs.js'
import type { RunRow } from './tables.js'

export interface Proposal {
  kind: RemediationKind
  params: Record<string, unknown>
  reason: string
  evidence: Remediation['evidence']
  runId?: string | undefined
  testId?: string | undefined
}

export const hour = 3_600_000
export const day = 86_400_000

/** What insights itself carries out: quarantine, rerun requests and arming snapshot-on-failure. */
export function internalKinds(kind: RemediationKind): boolean {
  return kind === 'quarantine' || kind === 'rerun' || kind === 'snapshot_on_failure'
}

const dirtyState = /duplicate key|unique constraint|already exists|violates (?:foreign key|unique)|constraint failed|deadlock detected|could not serialize/i
const missingSeed = /no rows|relation .{0,200}? does not exist|table .{0,200}? doesn'?t exist|no such table|fixture .{0,200}? (?:missing|not found)|seed/i

/** Recommendations for one triaged run. Deterministic: same facts, same proposals. */
export function recommend(
  run: RunRow,
  failures: readonly TriageFailure[],
  saturation: readonly string[],
  quarantinedOrPending: ReadonlySet<string>,
  armed: ReadonlySet<string>,
  owner: string,
  now: number,
  cfg: InsightsEnv['cfg'],
): Proposal[] {
  const out: Proposal[] = []
  const infra = parseJson<InfraMetrics>(run.infra)
  const sandboxId = typeof infra?.sandboxId === 'string' ? infra.sandboxId : undefined
  const finalFails = failures.filter((f) => f.outcome === 'fail')
  if (finalFails.length > 0 && finalFails.every((f) => f.class === 'known_flaky' || f.class === 'infrastructure')) {
    out.push({
      kind: 'rerun',
      runId: run.id,
      params: { runId: run.id, tests: finalFails.map((f) => f.testId), attempt: run.attempt + 1, estimatedMinutes: Math.round((run.test_ms / 60_000) * 10) / 10 },
      reason: `all ${finalFails.length} failure(s) are known flaky or infrastructure: a re-run is likely green`,
      evidence: finalFails.slice(0, 10).map((f) => ({ kind: f.class, detail: `${f.suite} › ${f.name}`, value: f.testId })),
    })
  }
  for (const f of failures) {
    if (f.class !== 'known_flaky') continue
    const flakyEv = f.evidence.find((e) => e.kind === 'flaky_score')
    if (!flakyEv) continue
    if (!quarantinedOrPending.has(f.testId)) {
      out.push({
        kind: 'quarantine',
        testId: f.testId,
        runId: run.id,
        params: { testId: f.testId, owner, from: new Date(now).toISOString(), expiresAt: new Date(now + cfg.remediation.quarantineDays * day).toISOString() },
        reason: `flaky test keeps turning runs red: quarantine it (owner ${owner}, ${cfg.remediation.quarantineDays} days) while it is fixed`,
        evidence: f.evidence,
      })
    }
    if (!armed.has(f.testId) && !f.snapshotUrl) {
      out.push({
        kind: 'snapshot_on_failure',
        testId: f.testId,
        runId: run.id,
        params: { testId: f.testId, ...(sandboxId ? { sandboxId } : {}) },
        reason: 'no snapshot of a failure of this flaky test yet: capture the sandbox on its next failure',
        evidence: flakyEv ? [flakyEv] : [],
      })
    }
  }
  const memorySaturated = saturation.some((s) => /memory|OOM/i.test(s))
  const cpuSaturated = saturation.some((s) => /CPU/.test(s))
  if (finalFails.length > 0 && (memorySaturated || cpuSaturated)) {
    out.push({
      kind: 'resize',
      runId: run.id,
      params: { ...(sandboxId ? { sandboxId } : {}), dimension: memorySaturated ? 'memoryMb' : 'cpu', factor: 2 },
      reason: `the run's sandbox ran out of ${memorySaturated ? 'memory' : 'CPU'}: give it twice as much`,
      evidence: saturation.map((s) => ({ kind: 'resource_saturation', detail: s })),
    })
  }
  const stateFail = finalFails.find((f) => dirtyState.test(f.message ?? ''))
  if (stateFail) {
    out.push({
      kind: 'reset_state',
      runId: run.id,
      params: { ...(sandboxId ? { sandboxId } : {}) },
      reason: 'failures look like leftover state (duplicate keys, existing objects): reset the sandbox database',
      evidence: [{ kind: 'state_error', detail: firstLine(stateFail.message), value: stateFail.testId }],
    })
  } else {
    const seedFail = finalFails.find((f) => missingSeed.test(f.message ?? ''))
    if (seedFail) {
      out.push({
        kind: 'reseed',
        runId: run.id,
        params: { ...(sandboxId ? { sandboxId } : {}) },
        reason: 'failures look like missing seed data: re-seed the sandbox database',
        evidence: [{ kind: 'seed_error', detail: firstLine(seedFail.message), value: seedFail.testId }],
      })
    }
  }
  return out
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0]!.slice(0, 200)
}
