/**
 * @module dispatch/handler-table.type-test — compiled by `tsc -b` with the server, never run. Each
 * `@ts-expect-error` marks a handler that must not compile; if it ever does, the directive is unused and
 * the build fails. This is what keeps handler tables honest against the operation table.
 */
import type { Operation } from '@tidepool/sdk'
import { z } from 'zod'
import { StreamResult } from '../kit/context.js'
import type { HandlerTable, HandlerTableOf } from '../kit/handler-table.js'
import { handlers } from './handlers.js'
import type { Services } from './services.js'

// A contract change: one operation before and after its schemas change.
const thing = { method: 'GET' as const, path: '/v1/things/{id}', summary: 'a thing', scope: 'sandboxes:read' as const, tags: ['things'] }
const before = {
  getThing: { ...thing, input: z.object({ id: z.string() }), output: z.object({ id: z.string(), size: z.number() }) },
} as const satisfies Record<string, Operation>
const outputChanged = {
  getThing: { ...thing, input: z.object({ id: z.string() }), output: z.object({ id: z.string(), size: z.string() }) },
} as const satisfies Record<string, Operation>
const inputChanged = {
  getThing: { ...thing, input: z.object({ thingId: z.string() }), output: z.object({ id: z.string(), size: z.number() }) },
} as const satisfies Record<string, Operation>

const lookUp = async (id: string) => ({ id, size: 1 })
const noLines: AsyncIterable<unknown> = (async function* () {})()

export const fits: HandlerTableOf<typeof before, object> = { getThing: (i) => lookUp(i.id) }
export const afterOutputChange: HandlerTableOf<typeof outputChanged, object> = {
  // @ts-expect-error the handler still returns size as a number; the output schema now says string
  getThing: (i) => lookUp(i.id),
}
export const afterInputChange: HandlerTableOf<typeof inputChanged, object> = {
  // @ts-expect-error the handler still reads `id`; the input schema now has `thingId`
  getThing: (i) => lookUp(i.id),
}
// @ts-expect-error a table without a handler for one of its operations
export const missing: HandlerTableOf<typeof before, object> = {}

// The real table: each handler is typed from its own operation.
export const real: HandlerTable<'getSandbox' | 'exec', Services> = {
  // @ts-expect-error a handler of another operation (a page of sandboxes is not a sandbox)
  getSandbox: handlers.listSandboxes,
  exec: handlers.exec,
}
export const stream: HandlerTable<'getSandbox' | 'exec', Services> = {
  // @ts-expect-error only an operation marked `stream` may answer with a stream
  getSandbox: async () => new StreamResult(noLines),
  exec: async () => new StreamResult(noLines),
}
export const input: HandlerTable<'getSandbox', Services> = {
  // @ts-expect-error getSandbox's input has no `path`
  getSandbox: async (i, ctx, svc) => svc.sandboxes.get(ctx.principal, i.path),
}
