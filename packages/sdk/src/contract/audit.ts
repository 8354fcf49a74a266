/** @module contract/audit — the tamper-evident audit log. */
import { z } from 'zod'
import { CallMeta } from './call-meta.js'
import { limits, PageInput, Timestamp, page } from './common.js'
import { CreateSandboxInput } from './sandbox.js'

/** What a run's call returned, as the audit keeps it: a digest to compare a replay with, and a bounded, redacted preview. */
export const AuditResult = z
  .object({
    digest: z.string().describe('SHA-256 of the canonical JSON of the result with ids, times and durations normalised.'),
    preview: z.unknown().describe('The result, redacted and bounded like audited inputs.'),
    streamed: z.boolean().optional().describe('The result came as a stream (NDJSON exec): this is its final line.'),
  })
  .meta({ id: 'AuditResult' })
export type AuditResult = z.infer<typeof AuditResult>

export const AuditRecord = z
  .object({
    seq: z.number().int(),
    at: Timestamp,
    actor: z.string().describe('Token id and name of who acted, e.g. tok_ab12 (ci-bot).'),
    project: z.string(),
    action: z.string().describe('Operation name, e.g. createSandbox.'),
    target: z.string().optional(),
    outcome: z.string().describe("'ok' or an error code."),
    requestId: z.string().optional(),
    data: z.unknown().optional().describe('Inputs with secrets redacted.'),
    call: CallMeta.optional().describe('What the caller said of the call (x-tidepool-meta / MCP _meta): run, parent call, prompt, model.'),
    result: AuditResult.optional().describe('Of a call that carried a run id: what it returned, for the decision graph and replay.'),
    prevHash: z.string(),
    hash: z.string().describe('SHA-256 over the canonical JSON (RFC 8785) of the record and prevHash.'),
  })
  .meta({ id: 'AuditRecord' })
export type AuditRecord = z.infer<typeof AuditRecord>

export const ListAuditInput = z
  .object({
    target: z.string().max(128).optional(),
    action: z.string().max(128).optional(),
    afterSeq: z.coerce.number().int().min(0).max(limits.count).optional(),
    run: z.string().min(1).max(limits.name).optional().describe('Only the records of this agent run (CallMeta.runId).'),
    ...PageInput,
  })
  .strict()
export const AuditPage = page(AuditRecord)

export const AuditGraphInput = z.object({ run: z.string().min(1).max(limits.name) }).strict()

const GraphNode = z.object({
  id: z.string(),
  kind: z.enum(['prompt', 'model', 'action', 'result']),
  label: z.string(),
  seq: z.number().int().optional().describe('The audit record the node comes from (prompt nodes: the first record with that prompt).'),
  requestId: z.string().optional(),
  data: z.unknown().optional().describe('prompt: its text; model: model, version, parameters; action: operation, target, redacted input; result: outcome and preview.'),
})
export const AuditGraph = z
  .object({
    run: z.string(),
    records: z.number().int().describe('Audit records of the run the graph is made of.'),
    truncated: z.boolean().describe('The run has more records than a graph holds (the first ones are shown).'),
    nodes: z.array(GraphNode),
    edges: z.array(z.object({ from: z.string(), to: z.string(), kind: z.enum(['asked', 'called', 'returned', 'led_to']) })),
    mermaid: z.string().describe('The same graph as a Mermaid flowchart.'),
  })
  .meta({ id: 'AuditGraph' })
export type AuditGraph = z.infer<typeof AuditGraph>

export const ReplayInput = z
  .object({
    run: z.string().min(1).max(limits.name).describe('The agent run to replay (CallMeta.runId).'),
    keep: z.boolean().default(false).describe('Keep the fresh sandbox (and anything else the replay created) instead of destroying it at the end.'),
    create: CreateSandboxInput.optional().describe("Create the fresh sandbox with this instead of the run's recorded createSandbox input."),
  })
  .strict()

const ReplayedResult = z.object({
  outcome: z.string().describe("'ok' or an error code."),
  digest: z.string().optional().describe('AuditResult.digest of the result (normalised: ids, times and durations masked).'),
  preview: z.unknown().optional().describe('The result, redacted and bounded as the audit keeps it.'),
})
export const ReplayStep = z.object({
  seq: z.number().int().describe('The original audit record.'),
  action: z.string(),
  target: z.string().optional().describe('What the original call acted on.'),
  status: z
    .enum(['same', 'differs', 'failed', 'unverified', 'skipped', 'not_replayable'])
    .describe(
      'same: the replayed result digests as the recorded one; differs: it does not, or the outcome changed; failed: the replay failed where the original succeeded; unverified: replayed, but the original kept no result; skipped / not_replayable: not re-issued (see reason).',
    ),
  reason: z.string().optional(),
  requestId: z.string().optional().describe('The replayed call (its audit record in the replay run).'),
  recorded: ReplayedResult.optional(),
  replayed: ReplayedResult.optional(),
})
export const ReplayReport = z
  .object({
    run: z.string(),
    replayRun: z.string().describe('The run id the replayed calls were recorded under; each carries parameters.replayOf = the original requestId.'),
    sandboxes: z.array(z.object({ original: z.string().optional(), fresh: z.string(), destroyed: z.boolean() })).describe('Sandboxes the replay created, with the original each stands in for.'),
    truncated: z.boolean().describe('The run has more records than a replay takes (the first ones were replayed).'),
    steps: z.array(ReplayStep),
    summary: z.object({ same: z.number().int(), differs: z.number().int(), failed: z.number().int(), unverified: z.number().int(), skipped: z.number().int(), notReplayable: z.number().int() }),
    ok: z.boolean().describe('No step differs or failed.'),
  })
  .meta({ id: 'ReplayReport' })
export type ReplayReport = z.infer<typeof ReplayReport>
export type ReplayStep = z.infer<typeof ReplayStep>

export const AuditVerifyResult = z
  .object({
    ok: z.boolean(),
    records: z.number().int().describe('Records walked.'),
    problems: z.array(z.object({ seq: z.number().int().describe('The record or checkpoint concerned; 0 for the log as a whole.'), problem: z.string() })),
    checkpoints: z.number().int().optional().describe('Signed checkpoints checked: signature, and the record hash each vouches for.'),
    headState: z
      .enum(['ok', 'absent', 'reset', 'unreadable', 'not_checked'])
      .optional()
      .describe('The signed head kept outside the store: ok (checked), absent, reset (emptied by an operator), unreadable, not_checked (no signing key).'),
    head: z.object({ seq: z.number().int(), hash: z.string(), at: Timestamp }).optional().describe('The signed head read from the head file.'),
    signedThrough: z.number().int().optional().describe('Every record up to this seq is vouched for by a valid signature.'),
    unsignedTail: z.number().int().optional().describe('Records after signedThrough, covered by the hash chain only.'),
    key: z
      .object({ id: z.string(), publicKey: z.string().describe('Ed25519, base64url.') })
      .optional()
      .describe('The key signatures were checked against.'),
  })
  .meta({ id: 'AuditVerifyResult' })

export const SandboxEvent = z
  .object({
    seq: z.number().int(),
    at: Timestamp,
    sandboxId: z.string(),
    kind: z
      .string()
      .describe('e.g. state_changed, exec, oom_killed, disk_full (a failed command with the writable layer at its diskMb, or the storage pool full: data.scope sandbox|pool), file_written'),
    actor: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'SandboxEvent' })
export type SandboxEvent = z.infer<typeof SandboxEvent>
export const SandboxEventPage = page(SandboxEvent)
