/** @module sandboxes/snapshot-row — a stored snapshot row as the contract's Snapshot. */
import type { SnapshotInfo as Snapshot } from '@tidepool/sdk'
import type { SnapshotRow } from '../store/schema.js'

export function toSnapshot(row: SnapshotRow): Snapshot {
  return {
    id: row.id,
    sandboxId: row.sandbox_id,
    ...(row.parent ? { parent: row.parent } : {}),
    template: row.template,
    sizeBytes: Number(row.size_bytes),
    exclusiveBytes: Number(row.exclusive_bytes),
    labels: Object.assign(Object.create(null) as Record<string, string>, JSON.parse(row.labels) as Record<string, string>),
    createdBy: row.created_by,
    createdAt: row.created_at,
    ...(row.expires_at ? { expiresAt: row.expires_at } : {}),
  }
}

/** Pinned snapshots are never deleted by count retention. */
export const isPinned = (row: Pick<SnapshotRow, 'labels'>) => (JSON.parse(row.labels) as Record<string, string>).pinned === 'true'
