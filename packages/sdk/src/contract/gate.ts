/** @module contract/gate — the sandbox-first gate: targets, proposals, their evidence, decisions, approvals and promotions. */
import { z } from 'zod'
import { limits, PageInput, Timestamp, page } from './common.js'
import type { Operation } from './operation.js'

const tags = ['gate']

export const GateTargetId = z
  .string()
  .max(limits.id)
  .regex(/^gtg_[a-z0-9]{6,40}$/, 'target ids look like gtg_ followed by lowercase letters and digits')
  .describe('Gate target id, e.g. gtg_k3j9x2m1q8w7.')
export const ProposalId = z
  .string()
  .max(limits.id)
  .regex(/^prop_[a-z0-9]{6,40}$/, 'proposal ids look like prop_ followed by lowercase letters and digits')
  .describe('Proposal id, e.g. prop_k3j9x2m1q8w7.')
const Sha256 = z
  .string()
  .length(64)
  .regex(/^[0-9a-f]{64}$/, 'a hash is 64 lowercase hex digits (sha256)')
  .describe('sha256 of the proposal (hex).')
const TargetName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'names are 1–63 lowercase letters, digits, - and _')
/** Largest SQL text of an artifact, a rollback or a verification. */
const maxSql = 256 * 1024
const Sql = (what: string) => z.string().min(1, `${what} must not be empty`).max(maxSql, `${what} is at most ${maxSql} bytes`)

// ---------------------------------------------------------------- targets

export const CreateGateTargetInput = z
  .object({
    name: TargetName.describe('Name, unique in the project.'),
    kind: z.literal('postgres').default('postgres').describe('What the target is (PostgreSQL databases today).'),
    url: z
      .string()
      .max(2048)
      .regex(/^postgres(ql)?:\/\//, 'url must be a PostgreSQL URL: postgresql://user:password@host:5432/dbname')
      .describe('Production connection URL, with credentials that can apply changes. Kept by tidepool; never returned, logged or handed to an agent.'),
    mirror: z.string().min(1).max(limits.id).describe('Mirror (id or name) of this database that rehearsals clone.'),
    settings: z
      .object({
        lockTimeoutMs: z.number().int().min(1).max(3_600_000).default(2000).describe('lock_timeout of rehearsals and promotions (ms).'),
        statementTimeoutMs: z.number().int().min(1).max(86_400_000).default(60_000).describe('statement_timeout of rehearsals and promotions (ms).'),
        role: TargetName.optional().describe('SET ROLE to this role before the artifact runs (a role of production that exists in the mirror too).'),
      })
      .strict()
      .default({ lockTimeoutMs: 2000, statementTimeoutMs: 60_000 })
      .describe('Production settings, applied the same way in rehearsals and promotions.'),
  })
  .strict()
  .meta({ id: 'CreateGateTargetInput' })

export const GateLock = z
  .object({
    owner: z.string().describe('Token id holding the lock.'),
    reason: z.string(),
    acquiredAt: Timestamp,
    expiresAt: Timestamp,
  })
  .meta({ id: 'GateLock' })

export const GateTarget = z
  .object({
    id: GateTargetId,
    project: z.string(),
    name: z.string(),
    kind: z.literal('postgres'),
    url: z.string().describe('The URL with its password hidden.'),
    mirror: z.string().describe('Mirror id rehearsals clone.'),
    settings: z.object({ lockTimeoutMs: z.number().int(), statementTimeoutMs: z.number().int(), role: z.string().optional() }),
    lock: GateLock.optional().describe('The promotion lock, while held and not expired.'),
    createdAt: Timestamp,
  })
  .meta({ id: 'GateTarget' })
export type GateTarget = z.infer<typeof GateTarget>
export const GateTargetRef = z.object({ id: z.string().min(1).max(limits.id).describe('Target id or name.') }).strict()
export const ListGateInput = z.object({ ...PageInput }).strict()
export const GateTargetPage = page(GateTarget)
export const LockGateTargetInput = GateTargetRef.extend({
  reason: z.string().min(1, 'reason must not be empty').max(limits.label).describe('Why the target is locked (shown to whoever finds it locked).'),
  ttlSeconds: z.number().int().min(1).max(86_400).default(600).describe('The lock lapses after this long.'),
}).strict()
export const UnlockGateTargetInput = GateTargetRef.extend({
  // A query parameter: 'true' or 'false', never coerced (a coerced 'false' would be true).
  force: z.enum(['true', 'false']).default('false').describe("'true': release another owner's lock (admin; audited)."),
}).strict()

// ---------------------------------------------------------------- proposals

export const ProposalExpect = z
  .object({
    maxRowsChanged: z.number().int().min(0).max(limits.count).optional().describe('Most rows the change may insert, update or delete in all (default: the gate config).'),
    tables: z.array(z.string().min(1).max(limits.label)).max(256).optional().describe('The only tables (schema.table) whose rows may change.'),
    destructive: z.boolean().default(false).describe('The change is meant to drop or delete (DROP, TRUNCATE, DELETE/UPDATE without WHERE, DROP COLUMN).'),
    heavyLocks: z.boolean().default(false).describe('The change may take locks that block reads or writes of a whole table.'),
  })
  .strict()
  .describe('What the proposer says the change does; the decision checks the evidence against it.')

export const CreateProposalInput = z
  .object({
    target: z.string().min(1).max(limits.id).describe('Target id or name.'),
    kind: z.literal('sql').default('sql').describe('Artifact kind (sql today).'),
    artifact: Sql('artifact').describe('The change: SQL statements, run in one transaction.'),
    rollback: Sql('rollback').optional().describe('SQL that undoes the change; shown before approval, run when verification fails.'),
    verify: Sql('verify').optional().describe('SQL run after promotion; a failing statement, or a first column false/null in its first row, fails verification.'),
    intent: z.string().min(1, 'intent must say what the change is for').max(4096).describe('What the change is for, in a sentence.'),
    expect: ProposalExpect.default({ destructive: false, heavyLocks: false }),
    rehearse: z.boolean().default(true).describe('Rehearse at once (false: classify only; POST …/rehearse later).'),
  })
  .strict()
  .meta({ id: 'CreateProposalInput' })

export const StatementClass = z.object({
  index: z.number().int(),
  kind: z.string().describe('Statement node, e.g. AlterTableStmt.'),
  category: z.enum(['read', 'write', 'ddl', 'other']),
  destructive: z.array(z.string()).describe('Why it destroys data (empty: it does not).'),
  heavyLocks: z.array(z.string()).describe('Locks it takes that block a whole table (empty: none).'),
  transactional: z.boolean().describe('It can run inside a transaction.'),
  tables: z.array(z.string()),
})

export const Classification = z
  .object({
    category: z.enum(['read-only', 'write', 'ddl']),
    destructive: z.boolean(),
    heavyLocks: z.boolean(),
    transactional: z.boolean(),
    statements: z.array(StatementClass),
  })
  .meta({ id: 'Classification' })

export const TableDelta = z.object({ table: z.string(), inserted: z.number().int(), updated: z.number().int(), deleted: z.number().int(), rowsBefore: z.number().int(), rowsAfter: z.number().int() })

export const RehearsalEvidence = z
  .object({
    hash: Sha256.describe('sha256 of the evidence bundle (canonical JSON, this field left out).'),
    cloneOf: z.string().describe('Mirror id the clone was made from.'),
    settings: z.object({
      lockTimeoutMs: z.number().int(),
      statementTimeoutMs: z.number().int(),
      role: z.string().optional(),
      roleApplied: z.boolean().describe('The role could be set on the clone.'),
    }),
    artifactMs: z.number().describe("The artifact's own run time."),
    overheadMs: z.number().describe('Clone + observe time beyond the artifact.'),
    error: z.object({ message: z.string(), code: z.string().optional(), statement: z.number().int().optional() }).optional(),
    tables: z.array(TableDelta).describe('Tables whose rows changed.'),
    rowsChanged: z.number().int(),
    schemaDiff: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }).describe('Columns, indexes and constraints as `table.name type`.'),
    droppedWithData: z.array(z.string()).describe('Tables or columns removed that held rows.'),
    locks: z.array(z.object({ table: z.string(), mode: z.string(), source: z.enum(['observed', 'implied']) })),
    fingerprint: Sha256.describe("The target's fingerprint (schema + row counts of the tables the artifact names) when it was rehearsed; a promotion refuses a target that no longer has it."),
    mirrorDrift: z.array(z.string()).describe("How the mirror's schema differs from the target's (empty: the same shape)."),
    at: Timestamp,
  })
  .meta({ id: 'RehearsalEvidence' })

export const ProposalState = z.enum(['proposed', 'rehearsed', 'approved', 'promoting', 'promoted', 'verified', 'rolled_back', 'failed'])

export const Proposal = z
  .object({
    id: ProposalId,
    project: z.string(),
    target: GateTargetId,
    kind: z.literal('sql'),
    hash: Sha256,
    artifact: z.string(),
    rollback: z.string().optional(),
    verify: z.string().optional(),
    intent: z.string(),
    expect: ProposalExpect,
    proposer: z.string().describe('Token id of the proposer.'),
    state: ProposalState,
    classification: Classification,
    evidence: RehearsalEvidence.optional(),
    decision: z
      .object({
        verdict: z.enum(['pass', 'fail', 'inconclusive']),
        reasons: z.array(z.string()),
        skip: z.enum(['read-only', 'override', 'standing']).optional().describe('Why the rehearsal was skipped.'),
        at: Timestamp,
      })
      .optional(),
    approval: z.object({ by: z.string(), hash: Sha256, at: Timestamp }).optional(),
    promotion: z
      .object({
        by: z.string(),
        startedAt: Timestamp,
        finishedAt: Timestamp.optional(),
        verified: z.boolean().optional(),
        rolledBack: z.boolean().optional(),
        error: z.string().optional(),
      })
      .optional(),
    createdAt: Timestamp,
  })
  .meta({ id: 'Proposal' })
export type Proposal = z.infer<typeof Proposal>
export const ProposalRef = z.object({ id: ProposalId }).strict()
export const ListProposalsInput = z.object({ ...PageInput, target: z.string().min(1).max(limits.id).optional().describe('Only this target (id or name).'), state: ProposalState.optional() }).strict()
export const ProposalPage = page(Proposal)
export const HashedProposalInput = ProposalRef.extend({ hash: Sha256.describe('The hash you reviewed: the call is refused unless it is the proposal’s.') }).strict()
export const ReasonedProposalInput = ProposalRef.extend({ reason: z.string().min(1, 'reason is required').max(1024) }).strict()

export const gateOps = {
  createGateTarget: {
    method: 'POST',
    path: '/v1/gate/targets',
    summary: 'Register a target of the gate: a production PostgreSQL database and the mirror rehearsals clone (admin)',
    scope: 'admin',
    input: CreateGateTargetInput,
    output: GateTarget,
    status: 201,
    tags,
  },
  listGateTargets: { method: 'GET', path: '/v1/gate/targets', summary: 'List gate targets', scope: 'gate:read', input: ListGateInput, output: GateTargetPage, tags },
  getGateTarget: { method: 'GET', path: '/v1/gate/targets/{id}', summary: 'Get a gate target', scope: 'gate:read', input: GateTargetRef, output: GateTarget, tags },
  lockGateTarget: {
    method: 'POST',
    path: '/v1/gate/targets/{id}/lock',
    summary: 'Take the promotion lock of a target (owner, reason, TTL)',
    scope: 'gate:promote',
    input: LockGateTargetInput,
    output: GateTarget,
    tags,
  },
  unlockGateTarget: {
    method: 'DELETE',
    path: '/v1/gate/targets/{id}/lock',
    summary: "Release the promotion lock (idempotent); force releases another owner's (admin, audited)",
    scope: 'gate:promote',
    input: UnlockGateTargetInput,
    output: GateTarget,
    tags,
  },
  createProposal: {
    method: 'POST',
    path: '/v1/proposals',
    summary: 'Propose a change to a target: it is hashed, classified, rehearsed on a clone of the mirror and decided',
    scope: 'gate:propose',
    input: CreateProposalInput,
    output: Proposal,
    status: 201,
    mcp: true,
    mcpName: 'proposal_create',
    tags,
  },
  listProposals: { method: 'GET', path: '/v1/proposals', summary: 'List proposals', scope: 'gate:read', input: ListProposalsInput, output: ProposalPage, mcp: true, mcpName: 'proposal_list', tags },
  getProposal: {
    method: 'GET',
    path: '/v1/proposals/{id}',
    summary: 'Get a proposal with its evidence and decision',
    scope: 'gate:read',
    input: ProposalRef,
    output: Proposal,
    mcp: true,
    mcpName: 'proposal_get',
    tags,
  },
  rehearseProposal: {
    method: 'POST',
    path: '/v1/proposals/{id}/rehearse',
    summary: 'Rehearse the proposal again on a fresh clone (e.g. after the target changed)',
    scope: 'gate:propose',
    input: ProposalRef,
    output: Proposal,
    tags,
  },
  overrideProposal: {
    method: 'POST',
    path: '/v1/proposals/{id}/override',
    summary: 'Operator override: decide pass without (or against) the rehearsal; reason required, audited',
    scope: 'gate:approve',
    input: ReasonedProposalInput,
    output: Proposal,
    tags,
  },
  approveProposal: {
    method: 'POST',
    path: '/v1/proposals/{id}/approve',
    summary: 'Approve the proposal of this hash (not its proposer; after a pass)',
    scope: 'gate:approve',
    input: HashedProposalInput,
    output: Proposal,
    tags,
  },
  promoteProposal: {
    method: 'POST',
    path: '/v1/proposals/{id}/promote',
    summary: 'Apply the approved hash to the target (fresh fingerprint, target lock, one transaction), then verify; a failed verification rolls back',
    scope: 'gate:promote',
    input: HashedProposalInput,
    output: Proposal,
    tags,
  },
  rollbackProposal: {
    method: 'POST',
    path: '/v1/proposals/{id}/rollback',
    summary: 'Run the rollback of a promoted proposal',
    scope: 'gate:promote',
    input: ReasonedProposalInput,
    output: Proposal,
    tags,
  },
} as const satisfies Record<string, Operation>
