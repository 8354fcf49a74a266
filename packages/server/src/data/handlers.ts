/** @module data/handlers — handlers of the data operations: one call into the data service each, scoped to the caller's project. */
import type { Handler } from '../kit/context.js'
import type { CreateClone } from './clones.js'
import type { CreateMirror } from './mirrors.js'

type Id = { id: string }
type PageQ = { limit: number; nextToken?: string }

export const dataHandlers = {
  createDataSource: async (i: { url: string; name?: string }, ctx, svc) => svc.data.addSource(ctx.principal, i),
  listDataSources: async (i: PageQ, ctx, svc) => svc.data.listSources(ctx.principal, i),
  deleteDataSource: async (i: Id, ctx, svc) => svc.data.deleteSource(ctx.principal, i.id),
  createMirror: async (i: CreateMirror, ctx, svc) => svc.data.createMirror(ctx.principal, i),
  listMirrors: async (i: PageQ, ctx, svc) => svc.data.listMirrors(ctx.principal, i),
  getMirror: async (i: Id, ctx, svc) => svc.data.getMirror(ctx.principal, i.id),
  refreshMirror: async (i: Id & { wait: boolean }, ctx, svc) => svc.data.refreshMirror(ctx.principal, i.id, i.wait),
  deleteMirror: async (i: Id, ctx, svc) => svc.data.deleteMirror(ctx.principal, i.id),
  createClone: async (i: CreateClone, ctx, svc) => svc.data.createClone(ctx.principal, i),
  listClones: async (i: PageQ, ctx, svc) => svc.data.listClones(ctx.principal, i),
  getClone: async (i: Id, ctx, svc) => svc.data.getClone(ctx.principal, i.id),
  patchClone: async (i: Id & { ttlSeconds: number }, ctx, svc) => svc.data.patchClone(ctx.principal, i.id, i.ttlSeconds),
  deleteClone: async (i: Id, ctx, svc) => svc.data.deleteClone(ctx.principal, i.id),
  createCloneSnapshot: async (i: Id & { label?: string }, ctx, svc) => svc.data.snapshotClone(ctx.principal, i.id, i.label),
  resetClone: async (i: Id & { to: string }, ctx, svc) => svc.data.resetClone(ctx.principal, i.id, i.to),
} satisfies Record<string, Handler<any, unknown>>
