/** @module access/handlers — tokens, whoami, audit. */
import type { Handler } from '../kit/context.js'
import { decodeCursor, encodeCursor } from '../kit/cursor.js'

export const accessHandlers = {
  whoami: async (_i: object, ctx) => ctx.principal,
  createToken: async (i: { project: string; scopes: never[]; name: string; ttlSeconds?: number }, _ctx, svc) => svc.tokens.create(i),
  listTokens: async (i: { limit: number; nextToken?: string }, _ctx, svc) => {
    const items = await svc.tokens.list(i.limit + 1, decodeCursor(i.nextToken))
    return pageOf(items, i.limit, (t) => t.id)
  },
  revokeToken: async (i: { id: string }, _ctx, svc) => svc.tokens.revoke(i.id),
  listAudit: async (i: { target?: string; action?: string; afterSeq?: number; limit: number; nextToken?: string }, ctx, svc) => {
    const cursor = decodeCursor(i.nextToken)
    const afterSeq = cursor !== undefined ? Number(cursor) : i.afterSeq
    // Admins see every project's records; everyone else their own project's.
    const project = ctx.principal.scopes.includes('admin') ? undefined : ctx.principal.project
    const items = await svc.audit.list({ project, target: i.target, action: i.action, afterSeq, limit: i.limit + 1 })
    return pageOf(items, i.limit, (r) => String(r.seq))
  },
  verifyAudit: async (_i: object, _ctx, svc) => svc.audit.verify(),
} satisfies Record<string, Handler<any, unknown>>

/** Keyset page: fetch limit+1, return limit items and a cursor when there are more. */
export function pageOf<T>(items: T[], limit: number, key: (t: T) => string): { items: T[]; nextToken?: string } {
  if (items.length <= limit) return { items }
  const page = items.slice(0, limit)
  return { items: page, nextToken: encodeCursor(key(page[page.length - 1]!)) }
}
