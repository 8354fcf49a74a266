/** @module actions/stable — deterministic output: plain JSON values with object keys sorted, so equal results serialise to equal bytes. */

/** A copy of a JSON-like value whose objects have their keys in sorted order (undefined values dropped). */
export function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys)
  if (value === null || typeof value !== 'object') return value
  // Null-prototype: a key `__proto__` in an output (a parsed JSON body) stays a key, never a prototype.
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = sortedKeys(v)
  }
  return out
}

/** Compares strings by UTF-16 code units (locale-independent, so the order is the same on every host). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
