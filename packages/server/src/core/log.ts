/** @module core/log — the Logger seam: pino in production (stderr), silent in tests. */
import { pino } from 'pino'

export interface Logger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

export function createLogger(level: string): Logger {
  // stdout is for output (and the MCP stdio protocol); logs always go to stderr.
  return pino({ level, base: undefined, redact: ['token', 'authorization', 'envs', 'env', '*.envs', '*.token'] }, pino.destination(2))
}

export const silentLogger: Logger = pino({ level: 'silent' })
