/** @module insights/history-entry — the shape of a test's history as the verdict models read it (a run, and one test in it). */
import type { Outcome } from './junit.js'

/** What the analysis knows about a run, for judging the tests in it. */
export interface RunInfo {
  id: string
  at: number
  commit: string
  codeKey: string
  variantKey: string
  branch: string
  isDefault: boolean
  /** Suspected infrastructure outage: excluded from scores. */
  infra: boolean
  attempt: number
  pr?: string | undefined
  /** Files the run's commit changed, when the run said (CreateRunInput.changedFiles). */
  changedFiles?: ReadonlySet<string> | undefined
}

/** One test in one run (rows of several report files already folded). */
export interface Entry {
  run: RunInfo
  outcome: Outcome
  attempts: number
  fails: number
  durationMs?: number | undefined
  signature?: string | undefined
}
