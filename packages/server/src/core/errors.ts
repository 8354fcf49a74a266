/** @module core/errors — AppError: the one error type services throw; everything else becomes `internal`. */
import { errorStatus, type ErrorCode, type QuotaDetails } from '@tidepool/sdk'
import { z } from 'zod'

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    opts?: ErrorOptions,
  ) {
    super(message, opts)
    this.name = 'AppError'
  }
}

export const notFound = (what: string, id: string) => new AppError('not_found', `${what} ${id} not found`)

export const quotaExceeded = (message: string, details: QuotaDetails) => new AppError('quota_exceeded', message, details)

/** zod issues → `[{ path, message }]` and one message naming the field, the rule and the value. */
export function invalidInput(err: z.ZodError, input: unknown): AppError {
  const details = err.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: describeIssue(i, input) }))
  const message = details.map((d) => `${d.path}: ${d.message}`).join('; ')
  return new AppError('invalid_request', message, details)
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.join(', ')}; remove them`
  const got = valueAt(input, issue.path)
  const shown = got === undefined ? '' : ` (got ${preview(got)})`
  return `${issue.message}${shown}`
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = input
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<PropertyKey, unknown>)[key]
  }
  return cur
}

function preview(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v))
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** The wire code of any error: AppError's own, a driver error's coded one (e.g. RuntimeError), else internal. */
export function codeOf(err: unknown): ErrorCode {
  if (err instanceof AppError) return err.code
  if (err instanceof Error && err.name === 'RuntimeError') {
    const code = (err as Error & { code?: string }).code
    if (code && code in errorStatus) return code as ErrorCode
  }
  return 'internal'
}
