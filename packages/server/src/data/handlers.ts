/** @module data/handlers — handlers of the data operations: one call into the data service each, scoped to the caller's project. */
import type { DataOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { DataService } from './service.js'

/** The services the data area's handlers use. */
export interface DataAreaServices {
  data: DataService
}

export const dataHandlers: HandlerTable<DataOpName, DataAreaServices> = {
  createDataSource: async (i, ctx, svc) => svc.data.addSource(ctx.principal, i),
  listDataSources: async (i, ctx, svc) => svc.data.listSources(ctx.principal, i),
  deleteDataSource: async (i, ctx, svc) => svc.data.deleteSource(ctx.principal, i.id),
  createMirror: async (i, ctx, svc) => svc.data.createMirror(ctx.principal, i),
  planMasking: async (i, ctx, svc) => svc.data.planMasking(ctx.principal, i),
  listMirrors: async (i, ctx, svc) => svc.data.listMirrors(ctx.principal, i),
  getMirror: async (i, ctx, svc) => svc.data.getMirror(ctx.principal, i.id),
  refreshMirror: async (i, ctx, svc) => svc.data.refreshMirror(ctx.principal, i.id, i.wait),
  deleteMirror: async (i, ctx, svc) => svc.data.deleteMirror(ctx.principal, i.id),
  createClone: async (i, ctx, svc) => svc.data.createClone(ctx.principal, i),
  listClones: async (i, ctx, svc) => svc.data.listClones(ctx.principal, i),
  getClone: async (i, ctx, svc) => svc.data.getClone(ctx.principal, i.id),
  patchClone: async (i, ctx, svc) => svc.data.patchClone(ctx.principal, i.id, i.ttlSeconds),
  deleteClone: async (i, ctx, svc) => svc.data.deleteClone(ctx.principal, i.id),
  createCloneSnapshot: async (i, ctx, svc) => svc.data.snapshotClone(ctx.principal, i.id, i.label),
  resetClone: async (i, ctx, svc) => svc.data.resetClone(ctx.principal, i.id, i.to),
}
