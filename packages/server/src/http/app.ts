/** @module http/app — the HTTP shell: routes derived from the operation table, all through dispatch. */
import { pipeline } from 'node:stream'
import { createGunzip, gunzipSync } from 'node:zlib'
import { callMetaHeader, errorStatus, operations, type Operation, type OpName } from '@tidepool/sdk'
import { Hono, type Context } from 'hono'
import { AppError, codeOf } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { checkKey, checkString, nullRecord, parseJsonSafely } from '../core/safe-input.js'
import { ByteStream } from '../kit/byte-stream.js'
import { callMetaOfHeader } from '../kit/call-meta.js'
import { StreamResult } from '../kit/context.js'
import { dispatch } from '../dispatch/dispatch.js'
import type { Services } from '../dispatch/services.js'
import { openApiDocument } from './openapi.js'
import { portProxy } from './port-proxy.js'
import { mountWebhookRoutes } from './webhook-routes.js'

/** JSON body limit of an operation that does not set its own (Operation.maxBodyBytes). */
const defaultMaxJsonBytes = 1024 * 1024
/** Query parameters one request may carry (Node's header limit bounds them on a socket; app.request has none). */
const maxQueryParams = 256
/** A client's own x-request-id is logged (as clientRequestId) only when it looks like an id. */
const clientRequestIdShape = /^[A-Za-z0-9._:-]{1,64}$/
const maxRawBytes = 512 * 1024 * 1024

export function createHttpApp(svc: Services): Hono {
  const app = new Hono()
  let openapi: string | undefined

  // First: a request for a port inside a sandbox (its host name or /v1/sandboxes/{id}/ports/{port}/…) is relayed there.
  app.use('*', portProxy(svc))
  app.get('/healthz', (c) => c.json({ ok: true }))
  app.get('/openapi.json', (c) => {
    openapi ??= JSON.stringify(openApiDocument())
    return c.body(openapi, 200, { 'content-type': 'application/json' })
  })

  // Signed approval links and GitHub's webhooks: no bearer token, each authenticated by its own signature.
  mountWebhookRoutes(app, svc, errorResponse)

  // Ops sharing a method+path (e.g. read vs ?list=1) are told apart by their query discriminator.
  const routes = new Map<string, OpName[]>()
  for (const name of Object.keys(operations) as OpName[]) {
    const op = operations[name] as Operation
    if (op.tunnel) continue // relayed by portProxy, any method and path below it
    const key = `${op.method} ${op.path}`
    routes.set(key, [...(routes.get(key) ?? []), name])
  }
  for (const [key, names] of routes) {
    const [method, path] = key.split(' ') as [string, string]
    const honoPath = path.replace(/\{(\w+)\}/g, ':$1')
    app.on(method, honoPath, (c) => handle(c, pick(names, c), svc))
  }

  app.notFound((c) => errorResponse(c, new AppError('not_found', `no route ${c.req.method} ${c.req.path}; see /openapi.json`), newId('req', 12)))
  app.onError((err, c) => errorResponse(c, err, newId('req', 12), svc))
  return app
}

function pick(names: OpName[], c: Context): OpName {
  const matching = names.find((n) => {
    const q = (operations[n] as Operation).query
    return q && Object.entries(q).every(([k, v]) => c.req.query(k) === v)
  })
  return matching ?? names.find((n) => !(operations[n] as Operation).query) ?? names[0]!
}

async function handle(c: Context, name: OpName, svc: Services): Promise<Response> {
  // The server names every request: the audit log's requestId is never the client's choice.
  const requestId = newId('req', 12)
  const clientId = c.req.header('x-request-id')
  const op = operations[name] as Operation
  const log = svc.log.child(clientId && clientRequestIdShape.test(clientId) ? { requestId, clientRequestId: clientId } : { requestId })
  try {
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]?.trim()
    const principal = await svc.tokens.authenticate(bearer)
    const meta = callMetaOfHeader(c.req.header(callMetaHeader))
    // Lazy: dispatch checks the scope before the body is read, parsed or validated.
    const input = () => readInput(c, op)
    const wantsStream = Boolean(op.stream) && (c.req.header('accept') ?? '').includes('application/x-ndjson')
    // Only a stream needs to know the client left; under @hono/node-server touching the signal builds a full Request.
    const signal = wantsStream ? c.req.raw.signal : undefined
    const result = await dispatch(name, input, { principal, requestId, log, stream: wantsStream, signal, meta }, svc)
    const headers = { 'x-request-id': requestId }
    if (result instanceof StreamResult) return ndjson(result, requestId)
    if (op.output === 'empty') return c.body(null, 204, headers)
    if (op.output === 'raw') return rawResponse(c, result as Uint8Array | ByteStream, headers)
    if (op.markdown && (c.req.header('accept') ?? '').includes('text/markdown')) {
      const md = (result as { markdown?: string }).markdown ?? ''
      return c.body(md, 200, { ...headers, 'content-type': 'text/markdown; charset=utf-8' })
    }
    return c.json(result, (op.status ?? 200) as 200, headers)
  } catch (err) {
    return errorResponse(c, err, requestId, svc)
  }
}

/**
 * Path params + query + (JSON body | raw body) → one input object, validated later by dispatch.
 * Built as a null-prototype object; every key and string is checked first (core/safe-input.ts), so
 * no input can reach a prototype or carry a lone surrogate.
 */
async function readInput(c: Context, op: Operation): Promise<Record<string, unknown>> {
  const input = nullRecord()
  const url = new URL(c.req.url)
  let count = 0
  for (const [k, v] of url.searchParams) {
    if (++count > maxQueryParams) throw new AppError('invalid_request', `the query has more than ${maxQueryParams} parameters; send fewer`)
    if (op.query && Object.hasOwn(op.query, k) && op.query[k] === v) continue
    // a.b=v sets input.a.b: every segment is checked, so a.__proto__ or __proto__.x never reaches a prototype.
    const segments = k.split('.')
    segments.forEach((segment, i) => checkKey(segment, segments.slice(0, i).join('.')))
    checkString(v, k)
    const dot = k.indexOf('.')
    if (dot > 0) {
      const [outer, inner] = [k.slice(0, dot), k.slice(dot + 1)]
      const rec = (input[outer] ??= nullRecord()) as Record<string, unknown>
      if (typeof rec !== 'object' || Array.isArray(rec))
        throw new AppError('invalid_request', `${outer}: given both as ${outer}=… and as ${k}=…; use one form`, [{ path: outer, message: 'given twice' }])
      rec[inner] = v
    } else if (Object.hasOwn(input, k)) {
      input[k] = ([] as unknown[]).concat(input[k], v)
    } else input[k] = v
  }
  if (op.rawBody) {
    input[op.rawBody] = await readRaw(c, op)
  } else if (op.method !== 'GET' && op.method !== 'DELETE') {
    const bytes = await readBytes(c, op.maxBodyBytes ?? defaultMaxJsonBytes)
    if (bytes.length > 0) {
      const body = parseJsonSafely(bytes.toString('utf8'), 'request body')
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new AppError('invalid_request', 'request body must be a JSON object')
      for (const [k, v] of Object.entries(body)) input[k] = v
    }
  }
  for (const [k, v] of Object.entries(c.req.param() as Record<string, string>)) {
    checkString(v, k)
    input[k] = v
  }
  return input
}

async function readRaw(c: Context, op: Operation): Promise<Uint8Array | ByteStream> {
  if (op.rawStream) return streamRaw(c)
  const bytes = await readBytes(c, maxRawBytes)
  const gz = (c.req.header('content-encoding') ?? '').includes('gzip') || (bytes[0] === 0x1f && bytes[1] === 0x8b && (c.req.header('content-type') ?? '').includes('xml'))
  if (!gz) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    return gunzipSync(bytes, { maxOutputLength: maxRawBytes })
  } catch (err) {
    throw new AppError('invalid_request', `body is not valid gzip: ${(err as Error).message}`)
  }
}

/**
 * The body as it arrives, for an operation that streams it (a file upload): nothing is read until the
 * handler pulls, each chunk is pulled only when the command took the last one, and maxRawBytes is counted
 * as the bytes flow (after gzip decoding). A client that goes away mid-body makes the stream fail, never end.
 */
function streamRaw(c: Context): ByteStream {
  const body = bodyOf(c, maxRawBytes)
  if (!body) return ByteStream.of(new Uint8Array(0))
  let source: AsyncIterable<Uint8Array> = body
  if ((c.req.header('content-encoding') ?? '').includes('gzip')) {
    const gunzip = createGunzip()
    pipeline(body as unknown as NodeJS.ReadableStream, gunzip, () => {})
    source = gunzip
  }
  const it = source[Symbol.asyncIterator]()
  let received = 0
  return new ByteStream(
    {
      next: async () => {
        try {
          const r = (await it.next()) as IteratorResult<Uint8Array, undefined>
          if (!r.done) received += r.value.byteLength
          return r
        } catch (err) {
          const gz = /incorrect header|invalid|unexpected end of file/i.test((err as Error).message) && source !== body
          throw gz
            ? new AppError('invalid_request', `content: the body is not valid gzip (${(err as Error).message}); send it uncompressed or fix Content-Encoding`)
            : new AppError('invalid_request', `content: the request body broke off after ${received} bytes (${(err as Error).message}); nothing was written, send it again`)
        }
      },
    },
    { max: maxRawBytes, tooLarge: (max) => new AppError('payload_too_large', `content: the request body exceeds the limit of ${max} bytes; nothing was written`) },
  )
}

/** Under @hono/node-server the Node request itself (skips the web-stream adapter, ~1 ms per request); else the web body. */
function bodyOf(c: Context, max: number): AsyncIterable<Uint8Array> | null {
  const declared = Number(c.req.header('content-length') ?? '0')
  if (declared > max) throw new AppError('payload_too_large', `request body of ${declared} bytes exceeds the limit of ${max}`)
  const incoming = (c.env as { incoming?: AsyncIterable<Buffer> } | undefined)?.incoming
  return incoming ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array> | null)
}

async function readBytes(c: Context, max: number): Promise<Buffer> {
  const body = bodyOf(c, max)
  if (!body) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > max) throw new AppError('payload_too_large', `request body exceeds the limit of ${max} bytes`)
    chunks.push(Buffer.from(chunk))
  }
  return Buffer.concat(chunks)
}

/**
 * Raw output: whole bytes as they are, a ByteStream pulled chunk by chunk as the client takes them. A
 * failure after the first chunk can only cut the body short (the status is sent): the client sees an
 * incomplete response, never a silently short file. A client that leaves cancels the stream (its command
 * is killed, its transfer slot freed), also when it left before the first pull.
 */
function rawResponse(c: Context, result: Uint8Array | ByteStream, headers: Record<string, string>): Response {
  const type = { 'content-type': 'application/octet-stream' }
  if (!(result instanceof ByteStream)) return c.body(result as never, 200, { ...headers, ...type })
  const outgoing = (c.env as { outgoing?: NodeJS.EventEmitter } | undefined)?.outgoing
  outgoing?.once('close', () => void result.cancel())
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await result.next()
      if (r.done) controller.close()
      else controller.enqueue(r.value)
    },
    cancel: () => result.cancel(),
  })
  return new Response(body, { status: 200, headers: { ...headers, ...type, 'cache-control': 'no-store' } })
}

function ndjson(result: StreamResult, requestId: string): Response {
  const it = result.lines[Symbol.asyncIterator]()
  const enc = new TextEncoder()
  // Pull-based: the next chunk is produced only when the client has taken the last one (backpressure).
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await it.next()
        if (done) controller.close()
        else controller.enqueue(enc.encode(`${JSON.stringify(value)}\n`))
      } catch (err) {
        const code = codeOf(err)
        const message = code === 'internal' ? 'internal error' : (err as Error).message
        controller.enqueue(enc.encode(`${JSON.stringify({ error: { code, message, requestId } })}\n`))
        controller.close()
      }
    },
    async cancel() {
      await it.return?.(undefined)
    },
  })
  return new Response(stream, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'x-request-id': requestId, 'cache-control': 'no-store' } })
}

export function errorResponse(c: Context, err: unknown, requestId: string, svc?: Services): Response {
  const code = codeOf(err)
  const status = errorStatus[code]
  const headers: Record<string, string> = { 'x-request-id': requestId }
  if (code === 'internal') svc?.log.error({ err, requestId }, 'internal error')
  const message = code === 'internal' ? `internal error; the server log has the details under requestId ${requestId}` : (err as Error).message
  const details = err instanceof AppError ? err.details : undefined
  if (code === 'quota_exceeded') {
    const d = details as { retryAfter?: number; limit?: number; used?: number } | undefined
    headers['retry-after'] = String(d?.retryAfter ?? 1)
    if (d?.limit !== undefined) headers['x-ratelimit-limit'] = String(d.limit)
    if (d?.limit !== undefined && d.used !== undefined) headers['x-ratelimit-remaining'] = String(Math.max(0, d.limit - d.used))
  }
  return c.json({ error: { code, message, ...(details !== undefined ? { details } : {}), requestId } }, status, headers)
}
