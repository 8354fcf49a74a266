/** @module http-exchange — one HTTP exchange of the client: URL and body from the operation table, timeout and abort, failures as ApiError. */
import { callMetaHeader, callMetaHeaderValue } from './contract/call-meta.js'
import type { z } from 'zod'
import { ApiError } from './api-error.js'
import type { Config, RequestOptions } from './client-options.js'
import type { Operation } from './contract/operation.js'

/** One HTTP exchange: URL, body, timeout and abort wiring, and mapping failures to ApiError. */
export class Call {
  readonly #ctrl = new AbortController()
  readonly #signal: AbortSignal | undefined
  readonly #onAbort: () => void
  #timer: ReturnType<typeof setTimeout> | undefined
  #timeoutError: ApiError | undefined
  #label: string

  constructor(
    private readonly cfg: Config,
    private readonly name: string,
    private readonly op: Operation,
    private readonly ro: RequestOptions,
    timeoutMs: number,
  ) {
    this.#label = `${name} (${op.method} ${op.path})`
    this.#signal = ro.signal
    this.#onAbort = () => this.#ctrl.abort(this.#signal?.reason)
    if (this.#signal?.aborted) this.#ctrl.abort(this.#signal.reason)
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true })
    if (timeoutMs > 0) {
      this.#timer = setTimeout(() => {
        this.#timeoutError = new ApiError('network_error', `${this.#label}: no response within ${timeoutMs} ms (timeoutMs)`)
        this.#ctrl.abort(this.#timeoutError)
      }, timeoutMs)
    }
  }

  async fetch(rawInput: unknown, accept: string): Promise<Response> {
    if (this.#signal?.aborted) throw this.#signal.reason
    const { url, body, contentType } = encode(this.cfg.baseUrl, this.name, this.op, rawInput)
    this.#label = `${this.name} (${this.op.method} ${url})`
    const headers: Record<string, string> = {
      accept,
      ...this.cfg.headers,
      ...this.ro.headers,
      authorization: `Bearer ${this.cfg.token}`,
    }
    const meta = this.ro.meta ?? this.cfg.meta
    if (meta) headers[callMetaHeader] = callMetaHeaderValue(meta)
    if (contentType) headers['content-type'] = contentType
    const doFetch = this.cfg.fetch ?? ((u: string, init: RequestInit) => globalThis.fetch(u, init))
    // A streamed body needs duplex 'half' (fetch's rule for request streams); it is not in every lib's RequestInit.
    const duplex = typeof ReadableStream !== 'undefined' && body instanceof ReadableStream ? { duplex: 'half' } : {}
    return doFetch(url, { method: this.op.method, headers, body, signal: this.#ctrl.signal, ...duplex } as RequestInit)
  }

  stopTimer(): void {
    clearTimeout(this.#timer)
  }

  finish(): void {
    clearTimeout(this.#timer)
    this.#signal?.removeEventListener('abort', this.#onAbort)
  }

  /** The caller's abort reason, the timeout, an ApiError as is, or anything else as `network_error`. */
  mapError(err: unknown): unknown {
    if (this.#signal?.aborted) return this.#signal.reason
    if (this.#timeoutError && this.#ctrl.signal.aborted) return this.#timeoutError
    if (err instanceof ApiError) return err
    return new ApiError('network_error', `${this.#label} failed: ${describe(err)}`, { cause: err })
  }
}

interface Encoded {
  url: string
  body: RequestInit['body']
  contentType: string | undefined
}

/** Path params from their input fields; the rest to the query (GET, DELETE, raw bodies) or a JSON body. */
export function encode(baseUrl: string, name: string, op: Operation, rawInput: unknown): Encoded {
  if (rawInput !== undefined && (typeof rawInput !== 'object' || rawInput === null || Array.isArray(rawInput))) {
    throw new ApiError('invalid_request', `${name}: input must be an object (got ${Array.isArray(rawInput) ? 'an array' : typeof rawInput})`)
  }
  const rest: Record<string, unknown> = { ...(rawInput as Record<string, unknown> | undefined) }
  const path = op.path.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = rest[key]
    delete rest[key]
    if (value === undefined || value === null || value === '') {
      throw new ApiError('invalid_request', `${name}: ${key} is required (it is part of the path ${op.path})`, {
        details: [{ path: key, message: 'required' }],
      })
    }
    return encodeURIComponent(String(value))
  })
  let body: RequestInit['body']
  let contentType: string | undefined
  const pairs: [string, string][] = []
  if (op.rawBody) {
    body = toRawBody(rest[op.rawBody], name, op.rawBody)
    contentType = op.rawContentType ?? 'application/octet-stream'
    delete rest[op.rawBody]
    for (const [k, v] of Object.entries(rest)) queryPairs(pairs, k, v)
  } else if (op.method === 'GET' || op.method === 'DELETE') {
    for (const [k, v] of Object.entries(rest)) queryPairs(pairs, k, v)
  } else {
    body = JSON.stringify(rest)
    contentType = 'application/json'
  }
  for (const [k, v] of Object.entries(op.query ?? {})) {
    const at = pairs.findIndex(([pk]) => pk === k)
    if (at >= 0) pairs.splice(at, 1)
    pairs.push([k, v])
  }
  // encodeURIComponent (not URLSearchParams): spaces as %20, never '+', so any server decodes alike.
  const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  return { url: `${baseUrl}${path}${query ? `?${query}` : ''}`, body, contentType }
}

/** Scalars as `k=v`, arrays as repeated `k=v`, records as `k.<key>=v`; undefined and null are left out. */
function queryPairs(out: [string, string][], key: string, value: unknown): void {
  if (value === undefined || value === null) return
  if (Array.isArray(value)) {
    for (const item of value) queryPairs(out, key, item)
  } else if (value instanceof Date) {
    out.push([key, value.toISOString()])
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) queryPairs(out, `${key}.${k}`, v)
  } else {
    out.push([key, String(value)])
  }
}

function toRawBody(value: unknown, name: string, field: string): NonNullable<RequestInit['body']> {
  if (value === undefined || value === null) return new Uint8Array(0)
  if (typeof value === 'string' || value instanceof ArrayBuffer) return value
  if (typeof Blob !== 'undefined' && value instanceof Blob) return value
  if (ArrayBuffer.isView(value)) return value as ArrayBufferView<ArrayBuffer>
  if (typeof ReadableStream !== 'undefined' && value instanceof ReadableStream) return value
  if (typeof value === 'object' && typeof (value as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    const it = (value as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    // Pulled: the next chunk is produced only when fetch sent the last one.
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const r = await it.next()
        if (r.done) controller.close()
        else controller.enqueue(r.value)
      },
      async cancel() {
        await it.return?.()
      },
    })
  }
  throw new ApiError('invalid_request', `${name}: ${field} must be a Uint8Array, ArrayBuffer, Blob, string, ReadableStream or AsyncIterable of Uint8Array (got ${typeof value})`)
}

export async function readJson(res: Response, name: string): Promise<unknown> {
  const text = await res.text()
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new ApiError('internal', `${name}: the server answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, {
      status: res.status,
      requestId: res.headers.get('x-request-id') ?? undefined,
    })
  }
}

export function validated(schema: z.ZodType, body: unknown, name: string, status: number): unknown {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const details = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  throw new ApiError('internal', `${name}: the response does not match the contract: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, {
    status,
    details,
  })
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined
  const detail = typeof cause?.message === 'string' ? cause.message : typeof cause?.code === 'string' ? cause.code : ''
  return detail && !err.message.includes(detail) ? `${err.message} (${detail})` : err.message
}
