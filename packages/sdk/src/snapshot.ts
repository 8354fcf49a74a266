/** @module snapshot — `Snapshot`: list, get and delete snapshots (take them with `sbx.createSnapshot()`). */
import { isApiError } from './api-error.js'
import type { Snapshot as SnapshotInfo } from './contract/snapshots.js'
import { clientFor, type ConnectionOptions } from './sandbox.js'

export interface SnapshotListOptions extends ConnectionOptions {
  /** Only snapshots of this sandbox, and/or with these labels. */
  query?: { sandboxId?: string; labels?: Record<string, string> }
  limit?: number
  nextToken?: string
}

/**
 * Snapshots of sandboxes' files. `const snap = await sbx.createSnapshot()`, then
 * `await Sandbox.create({ fromSnapshot: snap.id })`; `await Snapshot.delete(snap.id)` when done.
 */
export const Snapshot = {
  /** One page of this project's snapshots. */
  async list(opts: SnapshotListOptions = {}): Promise<{ items: SnapshotInfo[]; nextToken?: string }> {
    return clientFor(opts).listSnapshots({ sandboxId: opts.query?.sandboxId, labels: opts.query?.labels, limit: opts.limit, nextToken: opts.nextToken })
  },
  /** `ApiError` `not_found` if there is no such snapshot in the project. */
  async get(snapshotId: string, opts: ConnectionOptions = {}): Promise<SnapshotInfo> {
    return clientFor(opts).getSnapshot({ id: snapshotId })
  },
  /** `true` once it is gone (also when it never existed); `ApiError` `conflict` while a live sandbox started from it. */
  async delete(snapshotId: string, opts: ConnectionOptions = {}): Promise<boolean> {
    try {
      await clientFor(opts).deleteSnapshot({ id: snapshotId })
      return true
    } catch (err) {
      if (isApiError(err, 'not_found')) return false
      throw err
    }
  },
} as const
