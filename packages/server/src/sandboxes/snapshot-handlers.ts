/** @module sandboxes/snapshot-handlers — handlers of the snapshot, fork and reset operations. */
import type { SnapshotOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import { forkSandbox } from './fork.js'
import type { SandboxAreaServices } from './handlers.js'
import { resetSandbox } from './reset.js'

export const snapshotHandlers: HandlerTable<SnapshotOpName, SandboxAreaServices> = {
  createSnapshot: async (i, ctx, svc) => svc.sandboxes.snapshots.create(ctx.principal, i.id, i),
  listSnapshots: async (i, ctx, svc) => svc.sandboxes.snapshots.list(ctx.principal, i),
  getSnapshot: async (i, ctx, svc) => svc.sandboxes.snapshots.get(ctx.principal, i.id),
  deleteSnapshot: async (i, ctx, svc) => svc.sandboxes.snapshots.delete(ctx.principal, i.id),
  forkSandbox: async (i, ctx, svc) => forkSandbox(svc.sandboxes, ctx.principal, i.id, i),
  resetSandbox: async (i, ctx, svc) => {
    const sbx = await resetSandbox(svc.sandboxes, ctx.principal, i.id, i.to)
    svc.commands.forget(i.id) // its background commands ended with the old instance
    return sbx
  },
}
