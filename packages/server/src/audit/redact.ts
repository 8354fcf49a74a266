/**
 * @module audit/redact — what of an operation's input may be written to the audit log.
 *
 * Runs in `dispatch`'s `finally`, so every audited request pays for it, refused ones included: its
 * cost is linear in the input (one pass, no regular expression) and what it keeps is bounded
 * (strings, arrays, objects and depth), so neither a huge field nor a deep one can stall the control
 * plane or bloat the log.
 */

/** Longest string kept whole; a longer one is kept as its head plus `…[N chars]`. */
export const AUDIT_MAX_STRING = 1024
/** Most array items / object keys kept; the rest are counted. */
export const AUDIT_MAX_ITEMS = 64
/** Deepest nesting kept; anything deeper becomes `[nested]`. */
export const AUDIT_MAX_DEPTH = 8

const secretKeys = new Set(['envs', 'env', 'stdin', 'token', 'password', 'secret', 'authorization'])

/**
 * Env values, stdin, tokens and passwords become "[redacted]"; the password of any `scheme://user:password@`
 * becomes `***`; raw bytes become their length. Keys stay (they are useful evidence). Redaction runs on
 * the whole string before it is shortened, so a cut can never expose part of a secret.
 */
export function redactForAudit(value: unknown, key?: string, depth = 0): unknown {
  if (value instanceof Uint8Array) return { bytes: value.byteLength }
  if (key !== undefined && secretKeys.has(key.toLowerCase())) {
    if (value && typeof value === 'object' && !Array.isArray(value)) return mapKeys(value, () => '[redacted]')
    return '[redacted]'
  }
  if (typeof value === 'string') return shorten(redactUrlPasswords(value))
  if (value === null || typeof value !== 'object') return value
  if (depth >= AUDIT_MAX_DEPTH) return '[nested]'
  if (Array.isArray(value)) {
    const kept = value.slice(0, AUDIT_MAX_ITEMS).map((v) => redactForAudit(v, undefined, depth + 1))
    if (value.length > AUDIT_MAX_ITEMS) kept.push(`[${value.length - AUDIT_MAX_ITEMS} more items]`)
    return kept
  }
  return mapKeys(value, (v, k) => redactForAudit(v, k, depth + 1))
}

/** An object's first AUDIT_MAX_ITEMS own keys mapped through `f` (keys redacted and shortened too), the rest counted. */
function mapKeys(obj: object, f: (v: unknown, k: string) => unknown): Record<string, unknown> {
  const out: [string, unknown][] = []
  let more = 0
  for (const k of Object.keys(obj)) {
    if (out.length >= AUDIT_MAX_ITEMS) more++
    else out.push([shorten(redactUrlPasswords(k)), f((obj as Record<string, unknown>)[k], k)])
  }
  if (more > 0) out.push(['…', `[${more} more keys]`])
  return Object.fromEntries(out)
}

/** `s` itself if short, else its head and how long it was. */
export function shorten(s: string): string {
  return s.length <= AUDIT_MAX_STRING ? s : `${s.slice(0, AUDIT_MAX_STRING)}…[${s.length} chars]`
}

/**
 * Replaces the password of every `scheme://user:password@` with `***`, in one pass. Matches exactly what
 * `/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi` matched (that pattern backtracked quadratically on a
 * long run of letters: 7 s at 100 k characters): a scheme run holding a letter, `://`, a user of no
 * `:/@` or space, `:`, a password of no `@` or space, then `@`.
 */
export function redactUrlPasswords(s: string): string {
  let out = ''
  let copied = 0 // s[0, copied) is already in out
  let from = 0
  // Where the run of non-`@`, non-space characters starting at or before a position ends; shared by every
  // `://` inside one run, so a run holding many `://` and no `@` is walked once, not once per `://`.
  let runEnd = -1
  for (let guard = 0; guard <= s.length; guard++) {
    const sep = s.indexOf('://', from)
    if (sep < 0) break
    from = sep + 3
    if (!hasScheme(s, sep)) continue
    let i = sep + 3
    const userStart = i
    while (i < s.length && !isUserStop(s.charCodeAt(i))) i++
    if (i === userStart || s[i] !== ':') continue
    const passStart = i + 1
    if (runEnd < passStart) {
      runEnd = passStart
      while (runEnd < s.length && s[runEnd] !== '@' && !isSpace(s.charCodeAt(runEnd))) runEnd++
    }
    if (runEnd === passStart || s[runEnd] !== '@') continue
    out += `${s.slice(copied, passStart)}***@`
    copied = runEnd + 1
    from = copied
  }
  return copied === 0 ? s : out + s.slice(copied)
}

/** Whether the characters just before `sep` (a `://`) end a scheme: a run of [a-z0-9+.-] holding a letter. */
function hasScheme(s: string, sep: number): boolean {
  for (let i = sep - 1; i >= 0; i--) {
    const ch = s.charCodeAt(i)
    if ((ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a)) return true // a letter can start the scheme
    if (!((ch >= 0x30 && ch <= 0x39) || ch === 0x2b || ch === 0x2e || ch === 0x2d)) return false
  }
  return false
}

function isUserStop(c: number): boolean {
  return c === 0x3a || c === 0x2f || c === 0x40 || isSpace(c)
}

/** Exactly the characters of JavaScript's `\s`. */
export function isSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d)
  if (c < 0xa0) return false
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}
