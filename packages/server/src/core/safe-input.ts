/**
 * @module core/safe-input — parsed input that cannot reach a prototype or break a hash: no
 * `__proto__`/`constructor`/`prototype` keys at any depth, null-prototype objects, well-formed
 * UTF-16 in every key and string, bounded nesting. Used at every edge (HTTP query, path, JSON body;
 * the YAML config; the XML scanner's attributes).
 */
import { AppError } from './errors.js'

/** Keys that name (or reach) a prototype when assigned to an ordinary object. */
const unsafeKeys = new Set(['__proto__', 'constructor', 'prototype'])

/** In Unicode mode, \p{Cs} matches only a surrogate that is not half of a pair (a lone one). */
const loneSurrogate = /\p{Cs}/u

/** Deepest nesting of objects and arrays accepted in one input (the contract needs fewer than 10). */
export const maxInputDepth = 64

export function isUnsafeKey(key: string): boolean {
  return unsafeKeys.has(key)
}

/** A field path for messages: `metadata.team`, `events[3].data`. */
function join(where: string, key: string | number): string {
  if (typeof key === 'number') return `${where}[${key}]`
  return where ? `${where}.${key}` : key
}

function refuse(path: string, message: string): never {
  throw new AppError('invalid_request', `${path || '(input)'}: ${message}`, [{ path, message }])
}

/** Refuses a key that would reach a prototype, or that is not well-formed UTF-16. */
export function checkKey(key: string, where: string): void {
  const path = join(where, key)
  if (unsafeKeys.has(key)) refuse(path, `the key "${key}" is not allowed (it names a JavaScript prototype); rename it`)
  if (loneSurrogate.test(key)) refuse(join(where, JSON.stringify(key)), 'the key is not well-formed UTF-16 (it has a lone surrogate); send valid Unicode text')
}

/** Refuses a string that is not well-formed UTF-16 (a lone surrogate cannot be encoded as UTF-8). */
export function checkString(value: string, path: string): void {
  const m = loneSurrogate.exec(value)
  if (m) refuse(path, `the string is not well-formed UTF-16 (a lone surrogate U+${m[0].charCodeAt(0).toString(16).toUpperCase()} at index ${m.index}); send valid Unicode text`)
}

/**
 * A checked copy of a parsed JSON-like value: objects become null-prototype objects, keys and strings
 * are checked, nesting is bounded. Throws AppError('invalid_request') naming the field.
 */
export function safeCopy(value: unknown, where = '', depth = 0): unknown {
  if (typeof value === 'string') {
    checkString(value, where)
    return value
  }
  if (value === null || typeof value !== 'object') return value
  if (depth >= maxInputDepth) refuse(where, `nested deeper than ${maxInputDepth} levels; flatten the input`)
  if (Array.isArray(value)) return value.map((v, i) => safeCopy(v, join(where, i), depth + 1))
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(value)) {
    checkKey(key, where)
    out[key] = safeCopy((value as Record<string, unknown>)[key], join(where, key), depth + 1)
  }
  return out
}

/** JSON text → a checked value (see safeCopy). */
export function parseJsonSafely(text: string, what: string): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new AppError('invalid_request', `${what} is not valid JSON: ${(err as Error).message}`)
  }
  return safeCopy(parsed)
}

/** An empty null-prototype record, for input built key by key. */
export function nullRecord<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}
