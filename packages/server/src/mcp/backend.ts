/**
 * @module mcp/backend — how the MCP server reaches the API: in-process through `dispatch` (the HTTP
 * transport, inside the API server), or remotely through the SDK client (`tidepool mcp` over stdio).
 * Both give the same answers: the remote one ends in the same dispatch on the server.
 */
import { callMetaHeader, callMetaHeaderValue, type CallMeta, type Client, type OpName, type Principal } from '@tidepool/sdk'
import { ByteStream } from '../kit/byte-stream.js'
import { StreamResult } from '../kit/context.js'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { dispatch } from '../dispatch/dispatch.js'
import type { Services } from '../dispatch/services.js'

/** A chunk of a streamed command's output. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr'
  data: string
}

export interface CallOptions {
  /** Stream `exec`'s output here as it comes (the call still resolves to the whole result). */
  onOutput?: ((chunk: OutputChunk) => void | Promise<void>) | undefined
  signal?: AbortSignal | undefined
  /** The tool call's CallMeta (its `_meta`): recorded in the audit with the call. */
  meta?: CallMeta | undefined
  /** Told the call's requestId (the audit record's): the in-process backend makes it, the remote one reads x-request-id. */
  onRequestId?: ((requestId: string) => void) | undefined
}

/**
 * One operation call as the session's principal. Raw operations take and give bytes: `writeFile`'s
 * `content` is a Uint8Array, `readFile` resolves to one.
 */
export interface McpBackend {
  call(name: OpName, input: Record<string, unknown>, opts?: CallOptions): Promise<unknown>
}

/** Largest file `read_file` returns through MCP (a tool result is held whole in the client's context). */
export const maxToolFileBytes = 4 * 1024 * 1024
/** Output of a streamed exec kept for the final result, per stream (the rest went out as progress). */
const maxKeptOutput = 1024 * 1024

/** The in-process backend: every call is a dispatch as `principal()` (looked up per request by the shell). */
export function dispatchBackend(svc: Services, principal: () => Principal): McpBackend {
  return {
    async call(name, input, opts = {}) {
      const requestId = newId('req', 12)
      opts.onRequestId?.(requestId)
      const stream = name === 'exec' && Boolean(opts.onOutput) && input.background !== true
      const ctx = { principal: principal(), requestId, log: svc.log.child({ requestId, shell: 'mcp' }), stream, signal: opts.signal, meta: opts.meta }
      const raw = name === 'writeFile' ? { ...input, content: ByteStream.of(input.content as Uint8Array) } : input
      const result = await dispatch(name, raw, ctx, svc)
      if (result instanceof StreamResult) return collect(result.lines, opts.onOutput!)
      if (result instanceof ByteStream) return readAll(result)
      return result
    },
  }
}

/** The remote backend over the SDK client: what `tidepool mcp` (stdio) uses against any server. */
export function clientBackend(client: Client): McpBackend {
  return {
    async call(name, input, opts = {}) {
      const ro = {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.meta ? { headers: { [callMetaHeader]: callMetaHeaderValue(opts.meta) } } : {}),
        ...(opts.onRequestId ? { onRequestId: opts.onRequestId } : {}),
      }
      if (name === 'exec' && opts.onOutput && input.background !== true) {
        const kept = new Kept()
        const end = await client.stream('exec', input as never, {
          ...ro,
          onLine: async (line) => {
            if ('stream' in line && typeof line.data === 'string') {
              kept.add(line.stream, line.data)
              await opts.onOutput!({ stream: line.stream, data: line.data })
            }
          },
        })
        return { ...end, ...kept.result() }
      }
      return (client.request as (n: OpName, i: unknown, o?: unknown) => Promise<unknown>)(name, input, ro)
    },
  }
}

/** Hands each output line on and returns the final result with the output it kept. */
async function collect(lines: AsyncIterable<unknown>, onOutput: (c: OutputChunk) => void | Promise<void>): Promise<unknown> {
  const kept = new Kept()
  let end: Record<string, unknown> = {}
  for await (const line of lines) {
    const l = line as Record<string, unknown>
    if (typeof l.data === 'string' && (l.stream === 'stdout' || l.stream === 'stderr')) {
      kept.add(l.stream, l.data)
      await onOutput({ stream: l.stream, data: l.data })
    } else if ('exitCode' in l) end = l
  }
  return { ...end, ...kept.result() }
}

class Kept {
  #out = { stdout: '', stderr: '' }
  #truncated = false
  add(stream: 'stdout' | 'stderr', data: string): void {
    const room = maxKeptOutput - this.#out[stream].length
    if (data.length > room) this.#truncated = true
    if (room > 0) this.#out[stream] += data.slice(0, room)
  }
  result() {
    return { stdout: this.#out.stdout, stderr: this.#out.stderr, ...(this.#truncated ? { truncated: true } : {}) }
  }
}

async function readAll(s: ByteStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  for (let r = await s.next(); !r.done; r = await s.next()) {
    size += r.value.byteLength
    if (size > maxToolFileBytes) {
      await s.cancel()
      throw new AppError('payload_too_large', `the file is larger than ${maxToolFileBytes} bytes, too large for a tool result; read parts with exec (head -c / tail -c)`)
    }
    chunks.push(r.value)
  }
  return Buffer.concat(chunks)
}
