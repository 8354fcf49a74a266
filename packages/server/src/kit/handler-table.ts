/** @module kit/handler-table — the type every area's handler table has, derived from the operation table. */
import type { Operation, OpName, Operations } from '@tidepool/sdk'
import type { z } from 'zod'
import type { ByteStream } from './byte-stream.js'
import type { Ctx, StreamResult, TunnelResult } from './context.js'

/** What dispatch hands a handler of `Op`: its input after the schema parsed it (defaults filled in). */
export type HandlerInput<Op extends Operation> = z.output<Op['input']>

type Returned<O> = O extends z.ZodType ? z.output<O> : O extends 'raw' ? Uint8Array | ByteStream : void

/**
 * What a handler of `Op` may return: what its output schema describes (the shell does not parse output,
 * so this type is the only check), raw bytes for a raw operation, nothing for an empty one, and for an
 * operation that streams, a StreamResult of NDJSON lines; for a tunnel, the opened TunnelResult.
 */
export type HandlerOutput<Op extends Operation> = Returned<Op['output']> | (Op extends { stream: true } ? StreamResult : never) | (Op extends { tunnel: true } ? TunnelResult : never)

/** One operation's handler; `S` is the part of the services the area's handlers use. */
export type OpHandler<Op extends Operation, S> = (input: HandlerInput<Op>, ctx: Ctx, svc: S) => Promise<HandlerOutput<Op>>

/** A handler for each operation of a table of operations. */
export type HandlerTableOf<Ops extends Record<string, Operation>, S> = { [P in keyof Ops]: OpHandler<Ops[P], S> }

/**
 * An area's handler table: exactly one handler for each of the operations `K`, each typed from its own
 * schemas, so that a schema change in the contract breaks the build at the handler that no longer fits.
 */
export type HandlerTable<K extends OpName, S> = HandlerTableOf<Pick<Operations, K>, S>
