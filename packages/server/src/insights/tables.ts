/** @module insights/tables — row types of the insights tables (migration 0100-insights). Times in `at`-style columns are epoch ms. */
import type { Generated } from 'kysely'
import type { OpenedStore } from '../store/db.js'

export interface RunRow {
  project: string
  /** JSON array of the files the run's commit changed (migration 1240); null or absent: not told. */
  changed_files?: string | null
  id: string
  commit_sha: string
  tree: string | null
  code_key: string
  branch: string
  attempt: number
  variant: string
  variant_key: string
  started_at: string
  at: number
  finished_at: string | null
  pipeline: string | null
  pr: string | null
  infra: string | null
  arm: string | null
  status: string
  analyzed: number
  tests: number
  failed: number
  flaky: number
  skipped: number
  files: number
  file_errors: number
  test_ms: number
  infra_suspect: number
  infra_reason: string | null
  created_at: string
}

export interface FileRow {
  project: string
  run_id: string
  id: string
  name: string
  hash: string
  framework: string
  tests: number
  failures: number
  /** Problems that lost data (truncated, unreadable…): the run is incomplete. */
  errors: number
  /** JSON: { errors, warnings, flaky, skipped }. */
  summary: string
  created_at: string
}

export interface ResultRow {
  project: string
  run_id: string
  file_id: string
  test_id: string
  at: number
  /** 0 pass, 1 fail, 2 skip. */
  outcome: number
  attempts: number
  fails: number
  duration_ms: number | null
  signature: string | null
  message: string | null
}

export interface TestRow {
  project: string
  id: string
  framework: string
  file: string
  suite: string
  name: string
  first_seen: number
  last_seen: number
  status: string
  tier: string
  score: number
  lo: number
  hi: number
  n: number
  fails: number
  evidence: number
  excluded: number
  streak: number
  since: number | null
  cluster: string | null
  /** Comma-separated evidence kinds of the flaky call ('' for none). */
  evidence_kinds: string
  /** Pass↔fail transitions across default-branch commits outside breaks and fixes. */
  flips: number
}

export interface StatusLogRow {
  seq: Generated<number>
  project: string
  test_id: string
  at: number
  from_status: string
  to_status: string
}

export interface EventRow {
  seq: Generated<number>
  project: string
  run_id: string
  kind: string
  at: number
  test_id: string | null
  pr: string | null
  body: string
}

export interface SignatureRow {
  project: string
  id: string
  text: string
  example: string
  infra_like: number
}

export interface AnomalyRow {
  project: string
  id: string
  kind: string
  subject: string
  label: string
  type: string
  at: number
  run_id: string
  body: string
}

export interface ClusterRow {
  project: string
  id: string
  body: string
}

export interface RemediationRow {
  project: string
  id: string
  run_id: string | null
  test_id: string | null
  kind: string
  status: string
  mode: string
  arm: string | null
  created_at: number
  decided_at: number | null
  body: string
}

export interface QuarantineRow {
  project: string
  test_id: string
  owner: string
  reason: string
  expires_at: number
  remediation_id: string | null
  created_at: number
}

export interface SettingsRow {
  project: string
  body: string
  updated_at: string
}

/** A type, not an interface: kysely's `withTables` takes a record type. */
export type InsightsTables = {
  insight_runs: RunRow
  insight_files: FileRow
  insight_results: ResultRow
  insight_tests: TestRow
  insight_status_log: StatusLogRow
  insight_events: EventRow
  insight_signatures: SignatureRow
  insight_anomalies: AnomalyRow
  insight_clusters: ClusterRow
  insight_remediations: RemediationRow
  insight_quarantine: QuarantineRow
  insight_settings: SettingsRow
}

/** The store's Kysely instance with the insights tables typed in. */
export type InsightsDb = ReturnType<typeof insightsDb>

export function insightsDb(store: OpenedStore) {
  return store.db.withTables<InsightsTables>()
}

export const outcomeCode = { pass: 0, fail: 1, skip: 2 } as const
export const outcomeName = ['pass', 'fail', 'skip'] as const
