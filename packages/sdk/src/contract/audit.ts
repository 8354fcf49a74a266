/** @module contract/audit — the tamper-evident audit log. */
import { z } from 'zod'
import { limits, PageInput, Timestamp, page } from './common.js'

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
    ...PageInput,
  })
  .strict()
export const AuditPage = page(AuditRecord)

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
    kind: z.string().describe('e.g. state_changed, exec, oom_killed, disk_full (a failed command with the writable layer at its diskMb), file_written'),
    actor: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'SandboxEvent' })
export type SandboxEvent = z.infer<typeof SandboxEvent>
export const SandboxEventPage = page(SandboxEvent)
