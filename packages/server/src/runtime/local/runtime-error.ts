/** @module runtime/local/runtime-error — errors the local runtime throws; the control plane maps `code` to its AppError. */

export type RuntimeErrorCode = 'runtime_unavailable' | 'not_found' | 'invalid_request' | 'conflict' | 'internal'

/** An error with a stable code and a message that says what is missing and how to fix it. */
export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    opts?: ErrorOptions,
  ) {
    super(message, opts)
    this.name = 'RuntimeError'
  }
}

/** The message of an unknown thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
