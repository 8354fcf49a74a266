/** @module client-options — how a client reaches a server, and per-call options. */
import type { CallMeta } from './contract/call-meta.js'

/** The subset of `fetch` the client calls; `globalThis.fetch`, undici's or a test double all fit. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>

/** How to reach a tidepool server. */
export interface ClientOptions {
  /** Server URL, e.g. `http://127.0.0.1:7070` (a path prefix such as `https://host/tidepool` is kept). */
  baseUrl: string
  /** API token, sent as `Authorization: Bearer <token>`. */
  token: string
  /** fetch to use; defaults to `globalThis.fetch` at call time. */
  fetch?: FetchLike
  /** Extra headers on every request. */
  headers?: Record<string, string>
  /** What every call of this client says of itself (agent run, prompt, model): audited with it (x-tidepool-meta). */
  meta?: CallMeta
  /**
   * Per-request time limit in ms (default 60 000; 0 disables). Operations that stream (`exec`,
   * `waitCommand`) run as long as their command, so they get no limit unless a call passes one.
   * On expiry the call throws `ApiError` with code `network_error`.
   */
  timeoutMs?: number
  /** Parse every JSON response with the operation's output schema (zod); a mismatch throws `internal`. */
  validate?: boolean
}

/** Per-call options. */
export interface RequestOptions {
  /** Aborting rejects the call with the signal's reason (an `AbortError` unless you gave another). */
  signal?: AbortSignal
  /** Overrides the client's `timeoutMs` for this call (0 disables). */
  timeoutMs?: number
  /** Extra headers for this call. */
  headers?: Record<string, string>
  /** This call's CallMeta, instead of the client's (e.g. its own prompt and `parentId`). */
  meta?: CallMeta
  /** Told the answer's `x-request-id` (the audit record's requestId: a next step's `parentId`) before the body is read. */
  onRequestId?: (requestId: string) => void
}

/** ClientOptions with the base URL normalised (no trailing slash). */
export interface Config extends ClientOptions {
  baseUrl: string
}
