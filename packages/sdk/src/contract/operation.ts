/** @module contract/operation — the shape of one API operation in the operation table. */
import type { z } from 'zod'
import type { Scope } from './auth.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface Operation {
  method: HttpMethod
  /** Path with `{param}` placeholders; params are fields of `input`. */
  path: string
  summary: string
  /** Scope the caller needs (admin implies all). */
  scope: Scope
  /** Everything the operation takes: path params, query, and JSON body fields, in one object. */
  input: z.ZodObject
  /** JSON output, or 'raw' (bytes) / 'empty' (204). */
  output: z.ZodType | 'raw' | 'empty'
  /** Success status (default 200). */
  status?: number
  /** The request body is raw bytes placed in this input field (e.g. file upload). */
  rawBody?: string
  /** Largest JSON body the server reads for this operation, in bytes (default 1 MiB); raw bodies have their own limit. */
  maxBodyBytes?: number
  /**
   * The raw body reaches the handler as a stream of chunks (an AsyncIterable of Uint8Array, read with
   * backpressure) instead of whole bytes; the raw output may stream the same way.
   */
  rawStream?: boolean
  /** Content type the client sends a raw body with (default application/octet-stream). */
  rawContentType?: string
  /** Route only when the query has these values (e.g. `?list=1`), to share a path with another op. */
  query?: Record<string, string>
  /** The operation can stream NDJSON lines when asked with `Accept: application/x-ndjson`. */
  stream?: boolean
  /**
   * A tunnel to a port inside a sandbox: the HTTP shell relays requests of any method, at this path and
   * below it, and WebSocket upgrades, over the stream the handler returns (http/port-proxy.ts); no
   * generic route is made for it.
   */
  tunnel?: boolean
  /** Exposed as an MCP tool. */
  mcp?: boolean
  /** The MCP tool's name when it is not the op name in snake_case (the names DESIGN.md gives agents). */
  mcpName?: string
  /** Also accepts `text/markdown` output (string) when asked with Accept. */
  markdown?: boolean
  tags: string[]
}
