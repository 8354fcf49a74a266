/** @module network/egress-types — what the egress proxy knows of a sandbox, its rules, and the events it reports. */
import type { EffectivePolicy } from './policy.js'

export type EgressVerdict = 'allowed' | 'denied' | 'stubbed' | 'error'
export type EgressProtocol = 'http' | 'connect' | 'socks'

/** A sandbox the proxy serves, found by the source address of a connection. */
export interface Attachment {
  sandboxId: string
  project: string
  template?: string | undefined
  policy: EffectivePolicy
}

/** A domain answered by a stub instead of the real service: a fixture, or another URL (e.g. another sandbox's port). */
export interface StubRule {
  name: string
  domains: readonly string[]
  response?: { status: number; headers: Readonly<Record<string, string>>; body: string } | undefined
  /** http://host:port (plain HTTP) the requests are forwarded to, trusted as configured (no address check). */
  url?: string | undefined
}

/** What a stub saw: enough for a test to assert "called once with this body". */
export interface StubCall {
  method: string
  path: string
  /** Request headers with credentials (authorization, cookies, api keys) removed. */
  headers: Record<string, string>
  /** The body as UTF-8, at most STUB_BODY_MAX bytes. */
  body: string
  truncated: boolean
}

/** Headers the proxy adds to requests to an allowed host; values come from named secrets. */
export interface CredentialRule {
  domains: readonly string[]
  /** header name → how to build its value: `format` with `{secret}` replaced by the secret (default `{secret}`). */
  headers: Readonly<Record<string, { secret: string; format?: string | undefined }>>
  /** Terminate HTTPS to these hosts with tidepool's CA so the headers reach HTTPS requests too (the sandbox must trust the CA). */
  terminateTls?: boolean | undefined
}

export interface EgressEvent {
  at: string
  sandboxId: string
  project: string
  protocol: EgressProtocol
  host: string
  port: number
  verdict: EgressVerdict
  /** The rule or reason that decided. */
  rule: string
  bytesUp: number
  bytesDown: number
  stub?: string | undefined
  call?: StubCall | undefined
}

export const STUB_BODY_MAX = 64 * 1024
