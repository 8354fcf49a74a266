/** @module contract/snapshots — snapshots of a sandbox's files, sandboxes from them, fork and reset. */
import { z } from 'zod'
import { boundedRecord, limits, Metadata, PageInput, Timestamp, page } from './common.js'
import type { Operation } from './operation.js'
import { Sandbox, SandboxId, SnapshotId } from './sandbox.js'

export { SnapshotId }

const tags = ['snapshots']

const LabelKey = z.string().min(1).max(64)
const LabelValue = z.string().max(256)
export const SnapshotLabels = boundedRecord(LabelKey, LabelValue, limits.metadataKeys, 'labels').describe(
  'Free-form string labels; filter lists with labels.<key>=<value>. `pinned: "true"` keeps a snapshot from count retention.',
)

/** Upper bound of one fork; the project's sandbox quota bounds it further. */
export const maxForkCount = 16

export const CreateSnapshotInput = z
  .object({
    id: SandboxId,
    labels: SnapshotLabels.default({}),
    ttlMs: z
      .number()
      .int()
      .min(1_000, 'ttlMs must be at least 1000 (1 s)')
      .max(31_536_000_000, 'ttlMs must be at most 31536000000 (365 days)')
      .optional()
      .describe('Deleted this long after it was taken (default: the server default, or kept).'),
  })
  .strict()
  .meta({ id: 'CreateSnapshotInput' })

export const Snapshot = z
  .object({
    id: SnapshotId,
    sandboxId: SandboxId.describe('The sandbox it was taken of.'),
    parent: SnapshotId.optional().describe('The snapshot that sandbox started from, if any.'),
    template: z.string().describe('Template of the sandbox; a sandbox from this snapshot starts on it.'),
    sizeBytes: z.number().int().describe('Bytes the capture references (shared data counted in full).'),
    exclusiveBytes: z.number().int().describe('Bytes only this snapshot holds: what deleting it frees.'),
    labels: z.record(z.string(), z.string()),
    createdBy: z.string().describe('Token id of whoever took it (or a system actor).'),
    createdAt: Timestamp,
    expiresAt: Timestamp.optional().describe('When retention deletes it.'),
  })
  .meta({ id: 'Snapshot' })
export type Snapshot = z.infer<typeof Snapshot>

export const SnapshotRef = z.object({ id: SnapshotId }).strict()
export const ListSnapshotsInput = z
  .object({
    sandboxId: SandboxId.optional().describe('Only snapshots of this sandbox.'),
    labels: boundedRecord(LabelKey, LabelValue, limits.metadataKeys, 'label filters').optional().describe('Filter: every given label must match (labels.k=v in the query).'),
    ...PageInput,
  })
  .strict()
export const SnapshotPage = page(Snapshot).meta({ id: 'SnapshotPage' })

export const ForkSandboxInput = z
  .object({
    id: SandboxId,
    count: z
      .number()
      .int()
      .min(1, 'count must be at least 1')
      .max(maxForkCount, `count must be at most ${maxForkCount}`)
      .default(1)
      .describe(`New sandboxes to make (1–${maxForkCount}), each with exactly the parent's files.`),
    metadata: Metadata.optional().describe("Metadata of the new sandboxes (default: the parent's)."),
  })
  .strict()
  .meta({ id: 'ForkSandboxInput' })
export const ForkResult = z
  .object({
    items: z.array(Sandbox),
    snapshotId: SnapshotId.describe('The fork point: the snapshot the new sandboxes started from (kept, labelled fork=true; delete it when the forks are gone).'),
  })
  .meta({ id: 'ForkResult' })

export const ResetSandboxInput = z
  .object({
    id: SandboxId,
    to: SnapshotId.optional().describe("A snapshot to reset to (default: the sandbox's start — its template, or the snapshot it started from)."),
  })
  .strict()
  .meta({ id: 'ResetSandboxInput' })

export const snapshotOps = {
  createSnapshot: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/snapshots',
    summary: "Snapshot a sandbox's files (consistent: its processes are frozen for the capture)",
    scope: 'sandboxes:write',
    input: CreateSnapshotInput,
    output: Snapshot,
    status: 201,
    mcp: true,
    tags,
  },
  listSnapshots: {
    method: 'GET',
    path: '/v1/snapshots',
    summary: 'List snapshots (paginated, filter by sandbox and labels)',
    scope: 'sandboxes:read',
    input: ListSnapshotsInput,
    output: SnapshotPage,
    tags,
  },
  getSnapshot: { method: 'GET', path: '/v1/snapshots/{id}', summary: 'Get one snapshot', scope: 'sandboxes:read', input: SnapshotRef, output: Snapshot, tags },
  deleteSnapshot: {
    method: 'DELETE',
    path: '/v1/snapshots/{id}',
    summary: 'Delete a snapshot (idempotent; refused while a live sandbox started from it)',
    scope: 'sandboxes:write',
    input: SnapshotRef,
    output: 'empty',
    status: 204,
    tags,
  },
  forkSandbox: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/fork',
    summary: "New sandboxes with exactly a sandbox's files (processes are not carried over)",
    scope: 'sandboxes:write',
    input: ForkSandboxInput,
    output: ForkResult,
    status: 201,
    mcp: true,
    tags,
  },
  resetSandbox: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/reset',
    summary: 'Put a sandbox back to its start or to a snapshot, in place (same id; processes restarted)',
    scope: 'sandboxes:write',
    input: ResetSandboxInput,
    output: Sandbox,
    tags,
  },
} as const satisfies Record<string, Operation>
