/**
 * @module actions/linear-regex — regular expressions from input, run only by V8's linear-time engine.
 *
 * A pattern an agent sends (assert.match) must not be able to stall the server (ReDoS). V8 ships a
 * non-backtracking engine (the `l` flag, behind --enable-experimental-regexp-engine) whose running time
 * is linear in the input; it refuses what it cannot run in linear time (backreferences, lookaround), so
 * such patterns get a clear invalid_request instead of a slow backtracking run. We enable the flag once,
 * process-wide; it changes nothing for regexes without `l`. Pattern and subject lengths are bounded too.
 */
import { setFlagsFromString } from 'node:v8'
import { AppError } from '../core/errors.js'

export const maxPatternChars = 1024
let enabled = false

function enableLinearEngine(): void {
  if (enabled) return
  setFlagsFromString('--enable-experimental-regexp-engine')
  enabled = true
}

/** Flags a caller may ask for (i: ignore case, m: multi-line, s: dot matches newline, u: Unicode). */
export const allowedFlags = ['i', 'm', 's', 'u'] as const

/** Compiles `pattern` for the linear engine, or throws invalid_request saying why it cannot be used. */
export function linearRegex(pattern: string, flags: readonly string[] = []): RegExp {
  if (pattern.length > maxPatternChars) throw new AppError('invalid_request', `pattern: at most ${maxPatternChars} characters (got ${pattern.length})`, [{ path: 'pattern', message: 'too long' }])
  enableLinearEngine()
  const unique = [...new Set(flags)].sort().join('')
  try {
    return new RegExp(pattern, `${unique}l`)
  } catch (err) {
    const why = (err as Error).message
    if (/Invalid flags/.test(why)) throw new AppError('runtime_unavailable', 'this Node.js has no linear-time regexp engine; assert.match is unavailable here')
    throw new AppError('invalid_request', `pattern: ${why}; backreferences and lookaround are refused (they cannot run in linear time)`, [{ path: 'pattern', message: why }])
  }
}
