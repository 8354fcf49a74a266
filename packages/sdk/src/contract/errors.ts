/** @module contract/errors — stable error codes, their HTTP status and CLI exit code, and the wire shape. */
import { z } from 'zod'

/** Every error code tidepool returns. Stable: clients match on these. */
export const errorStatus = {
  invalid_request: 400,
  unauthenticated: 401,
  policy_denied: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  quota_exceeded: 429,
  internal: 500,
  bad_gateway: 502,
  runtime_unavailable: 503,
} as const

export type ErrorCode = keyof typeof errorStatus
export const errorCodes = Object.keys(errorStatus) as ErrorCode[]

/** CLI exit codes per error code (sysexits-flavoured); 1 is left for "the command inside failed". */
export const errorExitCode: Record<ErrorCode, number> = {
  invalid_request: 64,
  unauthenticated: 77,
  policy_denied: 77,
  not_found: 66,
  conflict: 75,
  payload_too_large: 64,
  quota_exceeded: 75,
  internal: 70,
  bad_gateway: 69,
  runtime_unavailable: 69,
}

export const ErrorDetail = z.object({ path: z.string(), message: z.string() })

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]).describe('Stable error code; match on this.'),
      message: z.string().describe('What went wrong and what to do about it.'),
      details: z.unknown().optional().describe('Per-field problems, or quota figures for quota_exceeded.'),
      requestId: z.string().optional().describe('Quote this when reporting a problem.'),
    }),
  })
  .meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof ErrorBody>

/** Details carried by `quota_exceeded`. */
export interface QuotaDetails {
  scope: string
  limit: number
  used: number
  requested?: number
  retryAfter: number
}
