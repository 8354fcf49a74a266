/** @module kit/context — what every handler receives: the caller, the request, and the services. */
import type { Principal } from '@tidepool/sdk'
import type { Logger } from '../core/log.js'
import type { Services } from '../dispatch/services.js'

export interface Ctx {
  principal: Principal
  requestId: string
  log: Logger
  /** The caller asked for a stream (NDJSON) where the operation supports one. */
  stream?: boolean
  /** Aborted when the client goes away. */
  signal?: AbortSignal
}

export type Handler<I, O> = (input: I, ctx: Ctx, svc: Services) => Promise<O>

/** Returned by a handler that streams: the HTTP shell writes each item as one NDJSON line. */
export class StreamResult {
  constructor(readonly lines: AsyncIterable<unknown>) {}
}
