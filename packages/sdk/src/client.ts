/** @module client — createClient(): every operation of the table as a typed function over fetch. */
import type { z } from 'zod'
import { ApiError, apiErrorFromResponse, errorShape } from './api-error.js'
import { errorStatus } from './contract/errors.js'
import type { Operation } from './contract/operation.js'
import { operations, type OpInput, type OpName, type OpOutput, type Operations } from './contract/operations.js'
import type { ExecResult, ExecStreamLine } from './contract/sandbox.js'
import type { ClientOptions, Config, RequestOptions } from './client-options.js'
import { Call, readJson, validated } from './http-exchange.js'
import { readNdjson, STOP } from './ndjson.js'

export type { ClientOptions, FetchLike, RequestOptions } from './client-options.js'

/** Names of operations that can stream NDJSON (`stream: true` in the table). */
export type StreamOpName = { [K in OpName]: Operations[K] extends { stream: true } ? K : never }[OpName]

/** One NDJSON line of a stream: `{ pid }`, `{ stream, data }` or the final line (has `exitCode`). */
export type StreamLine = z.infer<typeof ExecStreamLine>
/** The final line of a stream: the command's result without its output (that came as lines). */
export type StreamEnd = Omit<ExecResult, 'stdout' | 'stderr'>

/** Options of {@link Client.stream}. */
export interface StreamOptions extends RequestOptions {
  /**
   * Called for every line before the next is read; return a promise to slow the stream down
   * (backpressure). If it throws, the stream is cancelled and the call rejects with that error.
   */
  onLine?: (line: StreamLine) => void | Promise<void>
}

/**
 * Bytes accepted where an operation takes a raw body (e.g. `writeFile`'s `content`). A ReadableStream or
 * an AsyncIterable of Uint8Array chunks is sent as it is produced (never held whole).
 */
export type RawBody = Uint8Array | ArrayBuffer | Blob | string | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>

/** Names of operations whose output is raw bytes (`output: 'raw'`). */
export type RawOpName = { [K in OpName]: Operations[K] extends { output: 'raw' } ? K : never }[OpName]

/** An operation's input as the client takes it: the raw-body field also accepts strings, Blobs, … */
export type ClientInput<K extends OpName> = Operations[K] extends { rawBody: infer F extends string } ? Omit<OpInput<K>, F> & { [P in F]: RawBody } : OpInput<K>

type Args<K extends OpName> = {} extends ClientInput<K> ? [input?: ClientInput<K>, options?: RequestOptions] : [input: ClientInput<K>, options?: RequestOptions]

/** Every operation as a method; the input may be left out when all its fields are optional. */
export type ClientApi = { [K in OpName]: (...args: Args<K>) => Promise<OpOutput<K>> }

/** What {@link createClient} adds next to the operations. */
export interface ClientExtras {
  /** The normalised server URL (no trailing slash). */
  readonly baseUrl: string
  /** Call an operation by name (what every `client.<op>()` does). */
  request<K extends OpName>(op: K, ...args: Args<K>): Promise<OpOutput<K>>
  /**
   * Call a streaming operation with `Accept: application/x-ndjson`, handing each line to `onLine`;
   * resolves to the final line. A `{ "error": … }` line rejects with that `ApiError` (its `status` is
   * the code's HTTP status, though the response itself was 200). `timeoutMs` bounds only the wait for
   * the response headers. A server answering with buffered JSON instead still works: its stdout and
   * stderr are handed over as one line each.
   */
  stream<K extends StreamOpName>(op: K, input: ClientInput<K>, options?: StreamOptions): Promise<StreamEnd>
  /**
   * Call an operation whose output is raw bytes (e.g. `readFile`) and get them as a stream, read as you
   * go instead of held whole. `timeoutMs` bounds only the wait for the response headers; cancel the
   * stream (or abort the signal) to stop the transfer.
   */
  rawStream<K extends RawOpName>(op: K, input: ClientInput<K>, options?: RequestOptions): Promise<ReadableStream<Uint8Array>>
}

/** A remote implementation of the whole API (`Api`), plus `request` and `stream`. */
export type Client = ClientApi & ClientExtras

// An operation named like an extra would be shadowed; this line stops compiling if one is added.
type NoClash<T extends never> = T
type _NoOpNamedLikeAClientExtra = NoClash<Extract<OpName, keyof ClientExtras>>

const DEFAULT_TIMEOUT_MS = 60_000
const NDJSON = 'application/x-ndjson'

/**
 * Build a client for every operation in the table. Nothing here is per operation: paths, query
 * strings, bodies and result decoding all follow from the table.
 *
 * ```ts
 * const api = createClient({ baseUrl: 'http://127.0.0.1:7070', token })
 * const sbx = await api.createSandbox({ template: 'default' })
 * const r = await api.exec({ id: sbx.id, cmd: 'uname -a' })
 * ```
 */
function tellRequestId(res: Response, ro: RequestOptions): void {
  const id = res.headers.get('x-request-id')
  if (id && ro.onRequestId) ro.onRequestId(id)
}

export function createClient(options: ClientOptions): Client {
  const baseUrl = options.baseUrl.replace(/(?<!\/)\/+$/, '')
  if (!/^https?:\/\//i.test(baseUrl)) {
    throw new ApiError('invalid_request', `baseUrl must be an http(s) URL such as http://127.0.0.1:7070 (got ${JSON.stringify(options.baseUrl)})`)
  }
  const cfg: Config = { ...options, baseUrl }

  async function request(name: OpName, input?: unknown, ro: RequestOptions = {}): Promise<unknown> {
    const op = opOf(name)
    const call = new Call(cfg, name, op, ro, ro.timeoutMs ?? (op.stream ? 0 : (cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS)))
    try {
      const res = await call.fetch(input, op.output === 'raw' ? 'application/octet-stream, */*' : 'application/json')
      tellRequestId(res, ro)
      if (!res.ok) throw apiErrorFromResponse(res, await res.text())
      if (op.output === 'empty') {
        await res.arrayBuffer()
        return undefined
      }
      if (op.output === 'raw') return new Uint8Array(await res.arrayBuffer())
      const body = await readJson(res, name)
      return cfg.validate ? validated(op.output, body, name, res.status) : body
    } catch (err) {
      throw call.mapError(err)
    } finally {
      call.finish()
    }
  }

  async function stream(name: OpName, input: unknown, so: StreamOptions = {}): Promise<StreamEnd> {
    const op = opOf(name)
    if (!op.stream) throw new ApiError('invalid_request', `${name} does not stream; call client.${name}() instead`)
    const call = new Call(cfg, name, op, so, so.timeoutMs ?? 0)
    let userError: { error: unknown } | undefined
    const hand = async (line: StreamLine) => {
      try {
        await so.onLine?.(line)
      } catch (error) {
        userError = { error }
        throw error
      }
    }
    try {
      const res = await call.fetch(input, `${NDJSON}, application/json;q=0.5`)
      call.stopTimer()
      tellRequestId(res, so)
      if (!res.ok) throw apiErrorFromResponse(res, await res.text())
      if (!(res.headers.get('content-type') ?? '').includes(NDJSON)) {
        const result = (await readJson(res, name)) as ExecResult
        if (result.stdout) await hand({ stream: 'stdout', data: result.stdout })
        if (result.stderr) await hand({ stream: 'stderr', data: result.stderr })
        return result
      }
      if (!res.body) throw new ApiError('internal', `${name}: the NDJSON response has no body`, { status: res.status })
      let end: StreamEnd | undefined
      await readNdjson(res.body, async (value) => {
        const failed = errorShape(value)
        if (failed) {
          throw new ApiError(failed.code, failed.message, {
            status: (errorStatus as Record<string, number>)[failed.code] ?? 500,
            details: failed.details,
            requestId: failed.requestId ?? res.headers.get('x-request-id') ?? undefined,
          })
        }
        await hand(value as StreamLine)
        if (typeof (value as { exitCode?: unknown }).exitCode === 'number') {
          end = value as StreamEnd
          return STOP
        }
        return undefined
      })
      if (!end) {
        throw new ApiError('network_error', `${name}: the stream ended before the final line (connection closed early?)`, {
          status: res.status,
        })
      }
      return end
    } catch (err) {
      throw userError?.error === err ? err : call.mapError(err)
    } finally {
      call.finish()
    }
  }

  async function rawStream(name: OpName, input: unknown, ro: RequestOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const op = opOf(name)
    if (op.output !== 'raw') throw new ApiError('invalid_request', `${name} does not return raw bytes; call client.${name}() instead`)
    const call = new Call(cfg, name, op, ro, ro.timeoutMs ?? cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    try {
      const res = await call.fetch(input, 'application/octet-stream, */*')
      call.stopTimer()
      if (!res.ok) throw apiErrorFromResponse(res, await res.text())
      const reader = res.body?.getReader()
      // Failures while reading (the server cut the body short, an abort) surface as ApiErrors too.
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const r = reader ? await reader.read() : { done: true as const, value: undefined }
            if (r.done) {
              call.finish()
              controller.close()
            } else controller.enqueue(r.value)
          } catch (err) {
            call.finish()
            controller.error(call.mapError(err))
          }
        },
        async cancel(reason) {
          call.finish()
          await reader?.cancel(reason)
        },
      })
    } catch (err) {
      call.finish()
      throw call.mapError(err)
    }
  }

  const client: Record<string, unknown> = {
    baseUrl,
    rawStream: (name: OpName, input: unknown, ro?: RequestOptions) => rawStream(name, input, ro),
    request: (name: OpName, input?: unknown, ro?: RequestOptions) => request(name, input, ro),
    stream: (name: OpName, input: unknown, so?: StreamOptions) => stream(name, input, so),
  }
  for (const name of Object.keys(operations) as OpName[]) {
    client[name] = (input?: unknown, ro?: RequestOptions) => request(name, input, ro)
  }
  return client as unknown as Client
}

/**
 * Every item of a paginated list, fetching pages as the loop asks for them.
 *
 * ```ts
 * for await (const s of paginate(api.listSandboxes, { metadata: { ci: 'yes' } })) console.log(s.id)
 * ```
 */
export async function* paginate<F extends (input: never, options?: RequestOptions) => Promise<Page>>(
  list: F,
  input?: Parameters<F>[0],
  options?: RequestOptions,
): AsyncGenerator<Awaited<ReturnType<F>>['items'][number], void, undefined> {
  const first = (input ?? {}) as { nextToken?: string }
  let nextToken = first.nextToken
  do {
    const page: Page = await list({ ...first, nextToken } as never, options)
    // Pages come from `list` itself, so its items are the F's item type.
    yield* page.items as Awaited<Awaited<ReturnType<F>>['items'][number]>[]
    nextToken = page.nextToken
  } while (nextToken)
}

interface Page {
  items: unknown[]
  nextToken?: string | undefined
}

function opOf(name: OpName): Operation {
  const op = (operations as Record<string, Operation>)[name]
  if (!op) throw new ApiError('invalid_request', `unknown operation ${JSON.stringify(name)}; see the operation table`)
  return op
}
