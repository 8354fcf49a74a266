/** @module sandboxes/config — the sandboxes area's config section: limits and retention of snapshots (config key `snapshots`). */
import { z } from 'zod'

export const SnapshotConfig = z
  .object({
    maxPerProject: z.number().int().min(0).default(200).describe('Snapshots one project may keep; one more is refused with quota_exceeded.'),
    maxPerSandbox: z.number().int().min(1).default(20).describe('Snapshots kept per sandbox: past it, its oldest unpinned one (labels.pinned != "true", not in use) is deleted.'),
    defaultTtlMs: z.number().int().min(0).default(0).describe('TTL of a snapshot taken without ttlMs; 0 keeps it until deleted (or count retention).'),
  })
  .strict()
export type SnapshotConfig = z.infer<typeof SnapshotConfig>

/** Sandboxes kept started ahead for one template of one project (config key `warmPools`). */
export const WarmPoolConfig = z
  .object({
    project: z.string().min(1).max(128).describe('The project whose creates claim from the pool.'),
    template: z.string().min(1).max(64).default('default').describe('The template (the built-in `default`, or one the project built).'),
    replicas: z.number().int().min(0).max(64).describe("Ready sandboxes to keep; a create with the template's default resources, no denyRead and no fromSnapshot claims one."),
  })
  .strict()
export type WarmPoolConfig = z.infer<typeof WarmPoolConfig>
