/**
 * @module replay/replay-plan — the pure half of a replay: which recorded calls can be re-issued, how their
 * inputs are rewritten to the ids the replay made, which ids a replayed result maps, and how a replayed
 * result compares with the recorded one. No I/O: records and results in, decisions out.
 */
import { operations, type AuditResult, type Operation, type ReplayStep } from '@tidepool/sdk'
import { AUDIT_MAX_DEPTH } from '../audit/redact.js'
import { isGeneratedId } from '../audit/result-digest.js'

export const resultSuffix = ':result'
const maxWalkDepth = AUDIT_MAX_DEPTH + 2

/** Why a recorded call is not re-issued, or undefined when it can be. */
export type Refusal = { status: 'skipped' | 'not_replayable'; reason: string }

/** Whether the call a record holds can be re-issued, from its operation and its recorded input. */
export function refusalOf(action: string, data: unknown): Refusal | undefined {
  if (action.endsWith(resultSuffix)) return { status: 'skipped', reason: 'the end of a stream: compared with the call that started it' }
  const op = (Object.hasOwn(operations, action) ? (operations as Record<string, Operation>)[action] : undefined) as Operation | undefined
  if (!op) return { status: 'skipped', reason: `no operation ${action} any more` }
  if (op.scope === 'admin' || op.tags.includes('auth') || op.tags.includes('audit')) return { status: 'skipped', reason: 'token, audit and admin operations are not replayed' }
  if (op.tunnel) return { status: 'skipped', reason: 'a port tunnel carries traffic the audit does not keep' }
  if (op.rawBody !== undefined) return { status: 'not_replayable', reason: `the audit keeps the length of ${op.rawBody}, not its bytes` }
  const marker = redactionMarker(data)
  return marker ? { status: 'not_replayable', reason: marker } : undefined
}

/**
 * What in a recorded input shows the audit did not keep it whole (audit/redact.ts): a redacted secret,
 * a shortened string, a cut array or object, a nesting limit, a URL password. Undefined when it is whole.
 */
export function redactionMarker(value: unknown, depth = 0): string | undefined {
  if (typeof value === 'string') {
    if (value === '[redacted]') return 'the input held a secret (env, stdin, token or password) the audit redacted'
    if (value === '[nested]') return 'the input was nested deeper than the audit keeps'
    if (value.endsWith(' chars]') && value.includes('…[')) return 'the input held a string longer than the audit keeps'
    if (value.endsWith(' more items]') && value.startsWith('[')) return 'the input held an array longer than the audit keeps'
    if (value.includes(':***@')) return 'the input held a URL whose password the audit redacted'
    return undefined
  }
  if (value === null || typeof value !== 'object' || depth > maxWalkDepth) return undefined
  if (Array.isArray(value)) {
    for (const v of value) {
      const m = redactionMarker(v, depth + 1)
      if (m) return m
    }
    return undefined
  }
  for (const k of Object.keys(value)) {
    if (k === '…') return 'the input held an object with more keys than the audit keeps'
    const m = redactionMarker((value as Record<string, unknown>)[k], depth + 1)
    if (m) return m
  }
  return undefined
}

/** `value` with every occurrence of a mapped id replaced by its replacement (keys stay; a copy with no prototype tricks). */
export function rewriteIds(value: unknown, ids: ReadonlyMap<string, string>, depth = 0): unknown {
  if (typeof value === 'string') {
    if (ids.size === 0) return value
    const exact = ids.get(value)
    if (exact !== undefined) return exact
    let out = value
    for (const [from, to] of ids) if (out.includes(from)) out = out.split(from).join(to)
    return out
  }
  if (value === null || typeof value !== 'object' || depth > maxWalkDepth) return value
  if (Array.isArray(value)) return value.map((v) => rewriteIds(v, ids, depth + 1))
  // Object.fromEntries defines own properties: a `__proto__` key stays a key and never sets a prototype.
  return Object.fromEntries(Object.keys(value).map((k) => [k, rewriteIds((value as Record<string, unknown>)[k], ids, depth + 1)]))
}

/** Every generated id (sbx_…, snap_…) in a value. */
export function idsIn(value: unknown, into = new Set<string>(), depth = 0): Set<string> {
  if (typeof value === 'string') {
    if (isGeneratedId(value)) into.add(value)
  } else if (value !== null && typeof value === 'object' && depth <= maxWalkDepth) {
    for (const v of Array.isArray(value) ? value : Object.values(value)) idsIn(v, into, depth + 1)
  }
  return into
}

/**
 * Pairs the generated ids of a recorded result with those at the same place in the replayed one
 * (a create's `id`, a fork's list of ids), adding each pair (recorded → replayed) to `ids`.
 */
export function mapIds(recorded: unknown, replayed: unknown, ids: Map<string, string>, depth = 0): void {
  if (typeof recorded === 'string' && typeof replayed === 'string') {
    if (recorded !== replayed && isGeneratedId(recorded) && isGeneratedId(replayed) && !ids.has(recorded)) ids.set(recorded, replayed)
    return
  }
  if (recorded === null || replayed === null || typeof recorded !== 'object' || typeof replayed !== 'object' || depth > maxWalkDepth) return
  if (Array.isArray(recorded)) {
    if (!Array.isArray(replayed)) return
    for (let i = 0; i < recorded.length && i < replayed.length; i++) mapIds(recorded[i], replayed[i], ids, depth + 1)
    return
  }
  if (Array.isArray(replayed)) return
  for (const k of Object.keys(recorded)) {
    if (Object.hasOwn(replayed, k)) mapIds((recorded as Record<string, unknown>)[k], (replayed as Record<string, unknown>)[k], ids, depth + 1)
  }
}

/** One side of a comparison: how the call ended and, when it returned, what the audit keeps of it. */
export interface Side {
  outcome: string
  result?: AuditResult | undefined
  message?: string | undefined
}

/** How a replayed call compares with its recorded original. */
export function compareStep(recorded: Side, replayed: Side): { status: ReplayStep['status']; reason?: string } {
  if (replayed.outcome !== 'ok') {
    if (recorded.outcome === replayed.outcome) return { status: 'same', reason: `failed as recorded: ${replayed.outcome}` }
    if (recorded.outcome === 'ok') return { status: 'failed', reason: `${replayed.outcome}: ${replayed.message ?? ''}`.trim() }
    return { status: 'differs', reason: `failed with ${replayed.outcome}, recorded ${recorded.outcome}` }
  }
  if (recorded.outcome !== 'ok') return { status: 'differs', reason: `succeeded, recorded ${recorded.outcome}` }
  if (!recorded.result) return { status: 'unverified', reason: 'the original record keeps no result (recorded before results were kept)' }
  if (isOpaque(recorded.result.preview)) return { status: 'unverified', reason: 'the audit keeps no content of a byte or stream result' }
  if (recorded.result.digest === replayed.result?.digest) return { status: 'same' }
  return { status: 'differs', reason: 'the result differs from the recorded one (ids, times and durations aside)' }
}

/** The preview dispatch records for a result that is not JSON (bytes, a stream). */
function isOpaque(preview: unknown): boolean {
  if (preview === null || typeof preview !== 'object' || Array.isArray(preview)) return false
  const keys = Object.keys(preview)
  return keys.length === 1 && keys[0] === 'returned'
}
