/** @module access/handlers — tokens, whoami, audit. */
import type { AccessOpName } from '@tidepool/sdk'
import type { AuditLog } from '../audit/audit-log.js'
import { decisionGraph, maxGraphRecords } from '../audit/decision-graph.js'
import { decodeCursor } from '../kit/cursor.js'
import type { HandlerTable } from '../kit/handler-table.js'
import { pageOf } from '../kit/page.js'
import type { TokenService } from './tokens.js'

/** The services the access area's handlers use. */
export interface AccessAreaServices {
  tokens: TokenService
  audit: AuditLog
}

/** Every access operation but replayRun, which dispatch/handlers.ts wires (it calls dispatch). */
export const accessHandlers: HandlerTable<Exclude<AccessOpName, 'replayRun'>, AccessAreaServices> = {
  whoami: async (_i, ctx) => ctx.principal,
  createToken: async (i, _ctx, svc) => svc.tokens.create(i),
  listTokens: async (i, _ctx, svc) => {
    const items = await svc.tokens.list(i.limit + 1, decodeCursor(i.nextToken))
    return pageOf(items, i.limit)
  },
  revokeToken: async (i, _ctx, svc) => svc.tokens.revoke(i.id),
  listAudit: async (i, ctx, svc) => {
    const cursor = decodeCursor(i.nextToken)
    const afterSeq = cursor !== undefined ? Number(cursor) : i.afterSeq
    // Admins see every project's records; everyone else their own project's.
    const project = ctx.principal.scopes.includes('admin') ? undefined : ctx.principal.project
    const items = await svc.audit.list({ project, target: i.target, action: i.action, run: i.run, afterSeq, limit: i.limit + 1 })
    return pageOf(items, i.limit, (r) => String(r.seq))
  },
  auditGraph: async (i, ctx, svc) => {
    const project = ctx.principal.scopes.includes('admin') ? undefined : ctx.principal.project
    const records = await svc.audit.list({ project, run: i.run, limit: maxGraphRecords + 1 })
    return decisionGraph(i.run, records)
  },
  verifyAudit: async (_i, _ctx, svc) => svc.audit.verify(),
}
