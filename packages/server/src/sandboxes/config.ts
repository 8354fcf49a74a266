/** @module sandboxes/config — the sandboxes area's config section: limits and retention of snapshots (config key `snapshots`). */
import { z } from 'zod'

export const SnapshotConfig = z
  .object({
    maxPerProject: z.number().int().min(0).default(200).describe('Snapshots one project may keep; one more is refused with quota_exceeded.'),
    maxPerSandbox: z
      .number()
      .int()
      .min(1)
      .default(20)
      .describe('Snapshots kept per sandbox: past it, its oldest unpinned one (labels.pinned != "true", not in use) is deleted.'),
    defaultTtlMs: z.number().int().min(0).default(0).describe('TTL of a snapshot taken without ttlMs; 0 keeps it until deleted (or count retention).'),
  })
  .strict()
export type SnapshotConfig = z.infer<typeof SnapshotConfig>
