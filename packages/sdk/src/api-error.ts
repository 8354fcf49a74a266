/** @module api-error — ApiError: what every failed SDK call throws, carrying the API's stable `code`. */
import type { ErrorCode } from './contract/errors.js'

/**
 * Codes an {@link ApiError} carries: every server {@link ErrorCode}, plus `network_error` when no HTTP
 * response arrived (connection refused, DNS, reset, client-side timeout). A newer server may send a
 * code this SDK does not know yet; it is passed through unchanged, hence the open `string`.
 */
export type ApiErrorCode = ErrorCode | 'network_error' | (string & {})

/** Optional fields of an {@link ApiError}. */
export interface ApiErrorInit {
  /** HTTP status; 0 when no response arrived or the error was raised before sending. */
  status?: number
  details?: unknown
  requestId?: string
  retryAfter?: number
  cause?: unknown
}

/**
 * A failed API call. Match on `err.code` (stable), not on `message` (for humans) or `status`.
 *
 * ```ts
 * try { await sbx.files.read('/nope') } catch (err) {
 *   if (isApiError(err, 'not_found')) …
 *   if (isApiError(err, 'quota_exceeded')) await sleep(err.retryAfter! * 1000)
 * }
 * ```
 */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  /** Stable error code, e.g. `not_found`, `quota_exceeded`, `network_error`. */
  readonly code: ApiErrorCode
  /** HTTP status of the response; 0 when there was none. */
  readonly status: number
  /** Per-field problems (`[{ path, message }]`) or quota figures (`{ scope, limit, used, retryAfter }`). */
  readonly details: unknown
  /** The server's request id; quote it when reporting a problem. */
  readonly requestId: string | undefined
  /** Seconds to wait before retrying (from `Retry-After`, or the quota details), when the server said. */
  readonly retryAfter: number | undefined

  constructor(code: ApiErrorCode, message: string, init: ApiErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = code
    this.status = init.status ?? 0
    this.details = init.details
    this.requestId = init.requestId
    this.retryAfter = init.retryAfter
  }
}

/**
 * True when `err` is an {@link ApiError} (optionally with this `code`). Also recognises ApiErrors from
 * another copy of this package, where `instanceof` fails.
 */
export function isApiError(err: unknown, code?: ApiErrorCode): err is ApiError {
  const like = err instanceof ApiError || (err instanceof Error && err.name === 'ApiError' && typeof (err as { code?: unknown }).code === 'string')
  return like && (code === undefined || (err as ApiError).code === code)
}

/** The `error` member of a wire error body, if `value` has that shape. */
export function errorShape(value: unknown): { code: string; message: string; details?: unknown; requestId?: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const e = (value as { error?: unknown }).error
  if (typeof e !== 'object' || e === null) return undefined
  const { code, message, details, requestId } = e as Record<string, unknown>
  if (typeof code !== 'string' || typeof message !== 'string') return undefined
  return { code, message, details, requestId: typeof requestId === 'string' ? requestId : undefined }
}

/** `Retry-After` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000))
}

/** Build the ApiError for a non-2xx response whose body has been read as text. */
export function apiErrorFromResponse(res: Response, bodyText: string): ApiError {
  let parsed: unknown
  try {
    parsed = JSON.parse(bodyText)
  } catch {
    parsed = undefined
  }
  const shape = errorShape(parsed)
  const headerRequestId = res.headers.get('x-request-id') ?? undefined
  let retryAfter = parseRetryAfter(res.headers.get('retry-after'))
  if (retryAfter === undefined && shape?.details && typeof shape.details === 'object') {
    const fromDetails = (shape.details as { retryAfter?: unknown }).retryAfter
    if (typeof fromDetails === 'number') retryAfter = fromDetails
  }
  if (shape) {
    return new ApiError(shape.code, shape.message, {
      status: res.status,
      details: shape.details,
      requestId: shape.requestId ?? headerRequestId,
      retryAfter,
    })
  }
  const snippet = bodyText.trim().slice(0, 200)
  const statusText = res.statusText ? ` ${res.statusText}` : ''
  return new ApiError(
    'internal',
    `HTTP ${res.status}${statusText} from ${res.url || 'the server'} without a tidepool error body` + (snippet ? `: ${snippet}` : ' (empty body)') + '; check the base URL and any proxy in between',
    { status: res.status, requestId: headerRequestId, retryAfter },
  )
}
