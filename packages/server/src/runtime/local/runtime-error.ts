/** @module runtime/local/runtime-error — errors the local runtime throws; the control plane maps `code` to its AppError. */
import { errorStatus, type ErrorCode } from '@tidepool/sdk'

/** The codes a runtime may report: a subset of the API's (the SDK owns every code string). */
export const runtimeErrorCodes = ['runtime_unavailable', 'not_found', 'invalid_request', 'conflict', 'internal', 'bad_gateway'] as const satisfies readonly ErrorCode[]
export type RuntimeErrorCode = (typeof runtimeErrorCodes)[number]

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

/**
 * A helper failure report, "<code>: <message>" (native/util.c; the helper's codes are generated from the
 * SDK's list). A code the runtime does not report, or no code at all, is `internal` with the whole text.
 */
export function parseHelperReport(report: string): { code: RuntimeErrorCode; message: string; coded: boolean } {
  const m = /^([a-z_]+): (.*)$/s.exec(report)
  const code = m?.[1]
  if (code && code in errorStatus && (runtimeErrorCodes as readonly string[]).includes(code)) {
    return { code: code as RuntimeErrorCode, message: m[2] ?? '', coded: true }
  }
  return { code: 'internal', message: report, coded: false }
}

/** An exec the helper could not start ('E' frame) → RuntimeError. The helper's message carries its own hint. */
export function execStartError(id: string, report: string): RuntimeError {
  const { code, message } = parseHelperReport(report)
  if (code === 'invalid_request') return new RuntimeError(code, `sandbox ${id}: ${message}`)
  if (code === 'not_found') return new RuntimeError(code, `sandbox ${id} is not running: ${message}`)
  return new RuntimeError(code, `could not start the command in sandbox ${id}: ${message}`)
}
