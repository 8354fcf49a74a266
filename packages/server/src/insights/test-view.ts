/** @module insights/test-view — a test row and its history rows as the API shows them. */
import type { InsightTest, TestHistory } from '@tidepool/sdk'
import { parseJson } from './runs.js'
import type { HistoryResult, HistoryRun } from './queries.js'
import type { TestRow } from './tables.js'

type Quarantine = { owner: string; expires_at: number; reason: string; remediation_id: string | null }

export function testView(t: TestRow, q?: Quarantine): InsightTest {
  return {
    testId: t.id,
    framework: t.framework,
    suite: t.suite,
    name: t.name,
    ...(t.file ? { file: t.file } : {}),
    status: t.status as InsightTest['status'],
    tier: t.tier as InsightTest['tier'],
    score: round(t.score),
    interval: [round(t.lo), round(t.hi)],
    n: t.n,
    failures: t.fails,
    flakyEvidence: t.evidence,
    evidence: evidenceKinds(t.evidence_kinds),
    flips: t.flips,
    excludedRuns: t.excluded,
    failStreak: t.streak,
    ...(t.since !== null ? { since: new Date(t.since).toISOString() } : {}),
    lastSeen: new Date(t.last_seen).toISOString(),
    ...(t.cluster ? { cluster: t.cluster } : {}),
    ...(q ? { quarantine: { owner: q.owner, expiresAt: new Date(q.expires_at).toISOString(), reason: q.reason, ...(q.remediation_id ? { remediationId: q.remediation_id } : {}) } } : {}),
  }
}

/** One run of a test's history: its rows in that run (several report files) folded into one item. */
export function historyItem(run: HistoryRun, rows: readonly HistoryResult[]): TestHistory['items'][number] {
  let attempts = 0
  let fails = 0
  let pass = false
  let fail = false
  for (const r of rows) {
    attempts += r.attempts
    fails += r.fails
    if (r.outcome === 0) pass = true
    if (r.outcome === 1) fail = true
  }
  const withSig = rows.find((r) => r.signature)
  const dur = rows.find((r) => r.duration_ms !== null)?.duration_ms
  return {
    runId: run.id,
    at: new Date(run.at).toISOString(),
    commit: run.commit_sha,
    codeKey: run.code_key,
    branch: run.branch,
    variant: parseJson<Record<string, string>>(run.variant) ?? {},
    attempt: run.attempt,
    outcome: pass ? 'pass' : fail ? 'fail' : 'skip',
    attempts,
    failedAttempts: fails,
    ...(dur !== undefined && dur !== null ? { durationMs: dur } : {}),
    ...(withSig?.signature ? { signature: withSig.signature } : {}),
    ...(withSig?.message ? { message: withSig.message } : {}),
    infraSuspect: run.infra_suspect === 1,
  }
}

const kinds = new Set<string>(['same_tree_retry', 'in_run_retry', 'cross_commit_flips'])

/** The stored comma-separated evidence kinds, known kinds only. */
export function evidenceKinds(s: string): InsightTest['evidence'] {
  return s.split(',').filter((k) => kinds.has(k)) as InsightTest['evidence']
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
