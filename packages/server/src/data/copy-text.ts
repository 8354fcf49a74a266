/** @module data/copy-text — PostgreSQL COPY text format: one row per line, tab-separated, \N for NULL, backslash escapes. */

export const NULL_FIELD = '\\N'

const decodeMap: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' }

/** A field as COPY wrote it → its text value (null for \N). */
export function decodeField(raw: string): string | null {
  if (raw === NULL_FIELD) return null
  if (!raw.includes('\\')) return raw
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!
    if (ch !== '\\' || i === raw.length - 1) {
      out += ch
      continue
    }
    const next = raw[++i]!
    if (next >= '0' && next <= '7') {
      let oct = next
      while (oct.length < 3 && raw[i + 1]! >= '0' && raw[i + 1]! <= '7') oct += raw[++i]
      out += String.fromCharCode(parseInt(oct, 8))
    } else if (next === 'x' && /[0-9a-fA-F]/.test(raw[i + 1] ?? '')) {
      let hex = raw[++i]!
      if (/[0-9a-fA-F]/.test(raw[i + 1] ?? '')) hex += raw[++i]
      out += String.fromCharCode(parseInt(hex, 16))
    } else out += decodeMap[next] ?? next
  }
  return out
}

/** A text value (or null) → a COPY field. */
export function encodeField(value: string | null): string {
  if (value === null) return NULL_FIELD
  if (!/[\\\n\r\t\b\f\v]/.test(value)) return value
  return value.replace(/[\\\n\r\t\b\f\v]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v' })[c]!)
}

/** Quotes a value as one element of a PostgreSQL array literal: "…" with \ and " escaped. */
export function arrayElement(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}
