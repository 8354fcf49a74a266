/** @module runtime/local/runtime-logger — the subset of a logger the local runtime writes to. */

export interface RuntimeLogger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
}

export const silentLogger: RuntimeLogger = { debug() {}, info() {}, warn() {}, error() {} }
