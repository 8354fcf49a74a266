/** @module core/log — the Logger seam: pino in production (stderr, or a file with only warnings on stderr), silent in tests. */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { pino } from 'pino'

export interface Logger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

const redact = ['token', 'authorization', 'envs', 'env', '*.envs', '*.token']

export interface LogTarget {
  /** Every line at `level` or above goes to this file (appended, mode 0600) ... */
  file: string
  /** ... and only lines at this level or above also go to stderr, so a person reading the terminal sees output, not logs. */
  stderrLevel: LogLevel
  /** Where "stderr" lines go; fd 2 unless a test collects them. */
  stderr?: { write(line: string): unknown }
}

export function createLogger(level: LogLevel | string, target?: LogTarget): Logger {
  // stdout is for output (and the MCP stdio protocol); logs never go there.
  if (!target) return pino({ level, base: undefined, redact }, pino.destination(2))
  mkdirSync(dirname(target.file), { recursive: true, mode: 0o700 })
  // Synchronous writes: `tidepool up` exits with process.exit, which would drop an async buffer's tail.
  const file = pino.destination({ dest: target.file, sync: true, mode: 0o600 })
  const streams: pino.StreamEntry[] = [{ level: level as pino.Level, stream: file }]
  if (target.stderrLevel !== 'silent') streams.push({ level: target.stderrLevel, stream: target.stderr ?? pino.destination(2) })
  return pino({ level, base: undefined, redact }, pino.multistream(streams))
}

export const silentLogger: Logger = pino({ level: 'silent' })
