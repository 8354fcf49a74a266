/** @module gate/tables — row types of the gate's tables (migration 1200-gate). Timestamps are ISO strings, JSON is text. */
import type { Db } from '../store/db.js'

export interface GateTargetRow {
  id: string
  project: string
  name: string
  kind: string
  /** Production URL with its password: tidepool needs it to promote. Never returned or logged as is. */
  url: string
  mirror_id: string
  /** JSON: { lockTimeoutMs, statementTimeoutMs, role? } */
  settings: string
  created_at: string
}

export interface GateProposalRow {
  id: string
  project: string
  target_id: string
  /** sha256 of the canonical JSON of the proposal's body: what an approval binds to. */
  hash: string
  /** sha256 of the artifact text alone: identical rehearsals (standing approval) are counted by it. */
  artifact_hash: string
  /** JSON of the immutable body: { kind, artifact, rollback?, verify?, intent, expect }. */
  body: string
  proposer: string
  state: string
  classification: string
  evidence: string | null
  decision: string | null
  approval: string | null
  promotion: string | null
  /** The production transaction id of a promotion in flight: decides, after a crash, whether it committed. */
  promote_xid: string | null
  created_at: string
}

export interface GateRehearsalRow {
  id: string
  target_id: string
  artifact_hash: string
  proposal_id: string
  /** pass | fail | inconclusive, or 'failed' for a promotion that failed (revokes a standing approval too). */
  verdict: string
  at: string
}

export interface GateLockRow {
  target_id: string
  owner: string
  reason: string
  acquired_at: string
  expires_at: string
}

/** A type, not an interface: kysely's `withTables` takes a record type. */
export type GateTables = {
  gate_targets: GateTargetRow
  gate_proposals: GateProposalRow
  gate_rehearsals: GateRehearsalRow
  gate_locks: GateLockRow
}

export type GateDb = ReturnType<typeof gateDb>

export function gateDb(db: Db) {
  return db.withTables<GateTables>()
}
