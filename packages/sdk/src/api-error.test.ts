import { describe, expect, it } from 'vitest'
import { ApiError, apiErrorFromResponse, isApiError, parseRetryAfter } from './api-error.js'

describe('ApiError', () => {
  it('is an Error with a stable code, and keeps its cause', () => {
    const cause = new Error('ECONNREFUSED')
    const e = new ApiError('network_error', 'down', { cause })
    expect(e).toBeInstanceOf(Error)
    expect(e).toMatchObject({ name: 'ApiError', code: 'network_error', status: 0, message: 'down' })
    expect(e.cause).toBe(cause)
    expect(String(e)).toBe('ApiError: down')
  })

  it('isApiError matches by code, also for an ApiError from another copy of the package', () => {
    const e = new ApiError('not_found', 'x', { status: 404 })
    expect(isApiError(e)).toBe(true)
    expect(isApiError(e, 'not_found')).toBe(true)
    expect(isApiError(e, 'conflict')).toBe(false)
    const foreign = Object.assign(new Error('y'), { name: 'ApiError', code: 'conflict' })
    expect(isApiError(foreign, 'conflict')).toBe(true)
    expect(isApiError(new Error('z'))).toBe(false)
    expect(isApiError({ name: 'ApiError', code: 'x' })).toBe(false)
  })
})

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('12', now)).toBe(12)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30)
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter(null, now)).toBeUndefined()
  })
})

describe('apiErrorFromResponse', () => {
  it('takes retryAfter from quota details when there is no header, and the request id from the header', () => {
    const res = new Response(null, { status: 429, headers: { 'x-request-id': 'req_7' } })
    const body = JSON.stringify({ error: { code: 'quota_exceeded', message: 'm', details: { scope: 'project', limit: 1, used: 1, retryAfter: 9 } } })
    expect(apiErrorFromResponse(res, body)).toMatchObject({ code: 'quota_exceeded', status: 429, retryAfter: 9, requestId: 'req_7' })
  })

  it('passes through a code this SDK does not know (newer server)', () => {
    const res = new Response(null, { status: 418 })
    expect(apiErrorFromResponse(res, '{"error":{"code":"teapot","message":"short and stout"}}')).toMatchObject({ code: 'teapot', status: 418 })
  })

  it('an empty non-2xx body is internal and says so', () => {
    const e = apiErrorFromResponse(new Response(null, { status: 500 }), '')
    expect(e).toMatchObject({ code: 'internal', status: 500 })
    expect(e.message).toContain('empty body')
  })
})
