/** @module audit/redact — what of an operation's input may be written to the audit log. */

/** user:password@ in any URL (e.g. a data source's postgres:// URL). */
const urlPassword = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi

const secretKeys = new Set(['envs', 'env', 'stdin', 'token', 'password', 'secret', 'authorization'])

/** Env values, stdin, tokens and passwords become "[redacted]"; raw bytes become their length. Keys stay (they are useful evidence). */
export function redactForAudit(value: unknown, key?: string): unknown {
  if (value instanceof Uint8Array) return { bytes: value.byteLength }
  if (key && secretKeys.has(key.toLowerCase())) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.keys(value).map((k) => [k, '[redacted]']))
    }
    return '[redacted]'
  }
  if (typeof value === 'string') return value.replace(urlPassword, '$1***@')
  if (Array.isArray(value)) return value.map((v) => redactForAudit(v))
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactForAudit(v, k)]))
  }
  return value
}
