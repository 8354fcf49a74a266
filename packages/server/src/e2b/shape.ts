/** @module e2b/shape — tidepool's sandbox as E2B's REST API shows it, and errors in E2B's shape. */
import { errorStatus, type OpOutput } from '@tidepool/sdk'

type Sandbox = OpOutput<'getSandbox'>
import { AppError, codeOf } from '../core/errors.js'

/** The envd protocol version tidepool speaks: the SDKs enable features by it (stdin close, octet-stream upload). */
export const ENVD_VERSION = '0.5.7'
/** E2B's default template name; tidepool's is `default`. */
const E2B_DEFAULT_TEMPLATE = 'base'

export function templateOf(templateID: string | undefined): string {
  return !templateID || templateID === E2B_DEFAULT_TEMPLATE ? 'default' : templateID
}

export function stateOf(s: Sandbox): 'running' | 'paused' {
  return s.state === 'paused' ? 'paused' : 'running'
}

/** ListedSandbox / SandboxDetail fields (the detail adds envdAccessToken and domain). */
export function listed(s: Sandbox): Record<string, unknown> {
  return {
    templateID: s.template,
    sandboxID: s.id,
    clientID: 'tidepool',
    startedAt: s.createdAt,
    endAt: s.expiresAt,
    cpuCount: Math.max(1, Math.round(s.resources.cpu ?? 1)),
    memoryMB: s.resources.memoryMb ?? 0,
    diskSizeMB: s.resources.diskMb ?? 0,
    metadata: s.metadata,
    state: stateOf(s),
    envdVersion: ENVD_VERSION,
  }
}

/** What create, connect and resume return (E2B's `Sandbox` schema). */
export function created(s: Sandbox, access: { envdAccessToken: string; domain: string }): Record<string, unknown> {
  return { templateID: s.template, sandboxID: s.id, clientID: 'tidepool', envdVersion: ENVD_VERSION, ...access }
}

/** E2B's error body `{ code: <HTTP status>, message }`, from any error (internal ones say where to look). */
export function errorBody(err: unknown, requestId: string): { status: number; body: { code: number; message: string } } {
  const code = codeOf(err)
  const status = errorStatus[code]
  const message = code === 'internal' ? `internal error; the server log has the details under requestId ${requestId}` : (err as Error).message
  return { status, body: { code: status, message } }
}

/** `timeout` (seconds) of an E2B request body as tidepool's timeoutMs, checked. */
export function timeoutMsOf(seconds: unknown, fallbackMs: number): number {
  if (seconds === undefined || seconds === null) return fallbackMs
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) throw new AppError('invalid_request', `timeout must be a number of seconds (got ${JSON.stringify(seconds)})`)
  return Math.round(seconds * 1000)
}
