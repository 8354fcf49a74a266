/**
 * @module kit/call-meta — reads a caller's CallMeta (x-tidepool-meta header, MCP `_meta`) the same way
 * for every shell: through the prototype-safe JSON reader and the contract's strict schema, so a bad one is
 * `invalid_request` naming the field, and no key of it can reach a prototype.
 */
import { CallMeta, callMetaHeader } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import { parseJsonSafely, safeCopy } from '../core/safe-input.js'

/** Longest header value read (bytes): the prompt bound plus room for the rest and JSON escapes. */
export const maxCallMetaBytes = 64 * 1024

/** The CallMeta of a header value; undefined when there is none. */
export function callMetaOfHeader(value: string | undefined): CallMeta | undefined {
  if (value === undefined || value === '') return undefined
  if (value.length > maxCallMetaBytes) throw new AppError('invalid_request', `${callMetaHeader}: longer than ${maxCallMetaBytes} bytes`)
  return callMetaOf(parseJsonSafely(value, callMetaHeader), callMetaHeader)
}

/**
 * The CallMeta of an already-parsed object (MCP `_meta`): only the CallMeta keys are taken — `_meta` also
 * carries the client's own keys (progressToken, …) — and undefined when it names none of them.
 */
export function callMetaOfObject(meta: unknown): CallMeta | undefined {
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) return undefined
  const picked: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const k of Object.keys(CallMeta.shape)) if (Object.hasOwn(meta, k)) picked[k] = (meta as Record<string, unknown>)[k]
  if (Object.keys(picked).length === 0) return undefined
  return callMetaOf(safeCopy(picked, '_meta'), '_meta')
}

function callMetaOf(value: unknown, where: string): CallMeta {
  const parsed = CallMeta.safeParse(value)
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => ({ path: [where, ...i.path].join('.'), message: i.message }))
    throw new AppError('invalid_request', details.map((d) => `${d.path}: ${d.message}`).join('; '), details)
  }
  return parsed.data
}
