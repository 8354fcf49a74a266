/** @module audit/config — configuration keys of the audit log's signing (every key has a default). */
import { join, resolve } from 'node:path'
import { z } from 'zod'

export const AuditConfig = z
  .object({
    signingKeyFile: z
      .string()
      .optional()
      .describe("Ed25519 key that signs audit checkpoints, made on first start (0600). Keep it off the store's disk or backups if you can. Default <home>/audit/signing.key."),
    headFile: z.string().optional().describe('The latest signed checkpoint, rewritten atomically outside the store; deleting the newest records shows against it. Default <home>/audit/head.json.'),
    checkpointIntervalMs: z.number().int().min(10).max(600_000).default(1000).describe('A record is signed at most this long after it was appended (and at a clean stop).'),
    checkpointEveryRecords: z.number().int().min(1).max(1_000_000).default(1000).describe('...or as soon as this many records are unsigned.'),
  })
  .strict()
export type AuditConfig = z.infer<typeof AuditConfig>

/** Where the signing key and the head file are, given the home. */
export function auditPaths(home: string, cfg: AuditConfig): { keyFile: string; headFile: string } {
  return {
    keyFile: resolve(home, cfg.signingKeyFile ?? join('audit', 'signing.key')),
    headFile: resolve(home, cfg.headFile ?? join('audit', 'head.json')),
  }
}
