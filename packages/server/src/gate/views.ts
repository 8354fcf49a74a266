/** @module gate/views — rows as the API shows them (pure). */
import type { Proposal } from '@tidepool/sdk'
import type { Classification } from './classify.js'
import type { EvidenceBundle } from './rehearse.js'
import type { GateProposalRow } from './tables.js'

/** The immutable part of a proposal: what its hash covers. */
export interface Body {
  kind: 'sql'
  artifact: string
  rollback?: string
  verify?: string
  intent: string
  expect: { maxRowsChanged?: number | undefined; tables?: string[] | undefined; destructive: boolean; heavyLocks: boolean }
}

export interface Decision {
  verdict: 'pass' | 'fail' | 'inconclusive'
  reasons: string[]
  skip?: 'read-only' | 'override' | 'standing'
  at: string
}

export interface Promotion {
  by: string
  startedAt: string
  finishedAt?: string
  verified?: boolean
  rolledBack?: boolean
  error?: string
}

const json = <T>(s: string | null): T | undefined => (s === null ? undefined : (JSON.parse(s) as T))

export function proposalView(row: GateProposalRow): Proposal {
  const body = JSON.parse(row.body) as Body
  const plan = JSON.parse(row.classification) as Classification
  const evidence = json<EvidenceBundle>(row.evidence)
  const decision = json<Decision>(row.decision)
  const approval = json<{ by: string; hash: string; at: string }>(row.approval)
  const promotion = json<Promotion>(row.promotion)
  return {
    id: row.id,
    project: row.project,
    target: row.target_id,
    kind: 'sql',
    hash: row.hash,
    artifact: body.artifact,
    ...(body.rollback !== undefined ? { rollback: body.rollback } : {}),
    ...(body.verify !== undefined ? { verify: body.verify } : {}),
    intent: body.intent,
    expect: body.expect,
    proposer: row.proposer,
    state: row.state as Proposal['state'],
    classification: {
      category: plan.category,
      destructive: plan.destructive,
      heavyLocks: plan.heavyLocks,
      transactional: plan.transactional,
      statements: plan.statements.map((s) => ({
        index: s.index,
        kind: s.kind,
        category: s.category,
        destructive: s.destructive,
        heavyLocks: s.heavyLocks,
        transactional: s.transactional,
        tables: s.tables,
      })),
    },
    ...(evidence ? { evidence } : {}),
    ...(decision ? { decision } : {}),
    ...(approval ? { approval } : {}),
    ...(promotion ? { promotion } : {}),
    createdAt: row.created_at,
  }
}
