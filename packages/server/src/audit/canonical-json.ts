/** @module audit/canonical-json — RFC 8785 (JCS) canonical JSON for the values tidepool records, total over any input. */

/**
 * Keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string serialisation —
 * which is exactly what JCS specifies. Non-finite numbers have no JSON form and are refused.
 *
 * One deliberate extension: JCS tells an implementation to stop on a lone surrogate (U+D800–U+DFFF
 * without its pair). The audit log must record whatever reaches it, so a lone surrogate is written
 * the way ECMAScript's JSON.stringify writes it, as the escape `\udxxx`. The text is then always
 * well-formed Unicode with no NUL character, so SQLite and PostgreSQL store and return it byte for
 * byte, and parsing it gives back the very same string.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`)
    return JSON.stringify(value)
  }
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  throw new TypeError(`canonical JSON cannot encode a ${typeof value}`)
}

/** Deeper than this, a value is recorded as a marker (no real input nests so deep; the walk stays bounded). */
const MAX_DEPTH = 64

/**
 * Any value as a plain JSON value, the way JSON.stringify sees it (toJSON, dropped undefined and
 * functions), but never throwing: a bigint becomes its decimal string, a cycle or a value nested
 * deeper than 64 levels a marker string, a non-finite number null. So every append can be hashed.
 */
export function jsonValue(value: unknown, depth = 0, seen: Set<object> = new Set()): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (typeof value === 'bigint') return value.toString()
  if (typeof value !== 'object') return undefined // undefined, function, symbol: JSON leaves them out
  if (depth >= MAX_DEPTH) return '[too deep]'
  if (seen.has(value)) return '[circular]'
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    let replaced: unknown
    try {
      replaced = toJSON.call(value)
    } catch {
      return '[unserialisable]'
    }
    return replaced === value ? '[unserialisable]' : jsonValue(replaced, depth + 1, seen)
  }
  seen.add(value)
  try {
    if (Array.isArray(value)) return value.map((v) => jsonValue(v, depth + 1, seen) ?? null)
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const j = jsonValue(v, depth + 1, seen)
      // defineProperty: an own key named __proto__ stays a key and never becomes the prototype.
      if (j !== undefined) Object.defineProperty(out, k, { value: j, enumerable: true, writable: true, configurable: true })
    }
    return out
  } catch {
    return '[unserialisable]' // a getter or proxy that throws
  } finally {
    seen.delete(value)
  }
}
