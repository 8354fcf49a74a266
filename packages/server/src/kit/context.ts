/** @module kit/context — what every handler receives besides its input: the caller and the request. */
import type { Duplex } from 'node:stream'
import type { CallMeta, Principal } from '@tidepool/sdk'
import type { Logger } from '../core/log.js'

export interface Ctx {
  principal: Principal
  requestId: string
  log: Logger
  /** The caller asked for a stream (NDJSON) where the operation supports one. */
  stream?: boolean
  /** Aborted when the client goes away. */
  signal?: AbortSignal
  /** What the caller said of the call (run, parent call, prompt, model): recorded in the audit with it. */
  meta?: CallMeta | undefined
}

/** Returned by a handler that streams: the HTTP shell writes each item as one NDJSON line. */
export class StreamResult {
  constructor(readonly lines: AsyncIterable<unknown>) {}
}

/**
 * Returned by a tunnel operation's handler (Operation.tunnel): a byte stream to a port inside a sandbox,
 * authorised and opened; the HTTP shell relays the caller's request (or WebSocket) over it.
 */
export class TunnelResult {
  constructor(readonly stream: Duplex) {}
}
