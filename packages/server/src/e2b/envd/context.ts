/** @module e2b/envd/context — what every envd call knows: its sandbox, the principal, the user; errors as Connect codes. */
import { Code, ConnectError, createContextKey, type HandlerContext } from '@connectrpc/connect'
import type { Principal } from '@tidepool/sdk'
import { AppError, codeOf } from '../../core/errors.js'
import type { Services } from '../../dispatch/services.js'

export interface EnvdCall {
  svc: Services
  sandboxId: string
  principal: Principal
}

/** Set per request by the envd server (server.ts) once the sandbox and the access token are checked. */
export const envdCallKey = createContextKey<EnvdCall | undefined>(undefined, { description: 'e2b envd call' })

export function envdCallOf(ctx: HandlerContext): EnvdCall {
  const c = ctx.values.get(envdCallKey)
  if (!c) throw new ConnectError('no sandbox: send E2b-Sandbox-Id', Code.Unauthenticated)
  return c
}

/** The user of an envd call: `Authorization: Basic base64(<user>:)` as the SDKs send it, else the sandbox default. */
export function userOf(header: string | null | undefined): 'user' | 'root' | undefined {
  const basic = /^Basic\s+([A-Za-z0-9+/=]{1,512})$/.exec(header ?? '')?.[1]
  if (!basic) return undefined
  const name = Buffer.from(basic, 'base64').toString('utf8').split(':')[0]
  if (name === 'user' || name === 'root') return name
  throw new AppError('invalid_request', `user ${JSON.stringify(name)} does not exist in tidepool sandboxes; use 'user' or 'root'`)
}

/** The home of a user, where E2B resolves relative paths. */
export function homeOf(user: 'user' | 'root' | undefined): string {
  return user === 'root' ? '/root' : '/home/user'
}

export function absolute(path: string, user: 'user' | 'root' | undefined): string {
  if (path.startsWith('/')) return path
  const home = homeOf(user)
  return path === '' || path === '.' ? home : `${home}/${path.replace(/^\.\//, '')}`
}

const codes: Record<string, Code> = {
  invalid_request: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  policy_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  conflict: Code.FailedPrecondition,
  quota_exceeded: Code.ResourceExhausted,
  payload_too_large: Code.ResourceExhausted,
  runtime_unavailable: Code.Unavailable,
}

/** A tidepool error as the Connect error the SDKs map to their classes; a sandbox that is gone is Unavailable (as E2B's proxy). */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err
  const code = codeOf(err)
  const message = code === 'internal' ? 'internal error; see the tidepool server log' : (err as Error).message
  if (code === 'not_found' && /^sandbox \S+ not found/.test(message)) return new ConnectError(message, Code.Unavailable)
  // An internal error keeps its cause: the envd server logs it (server.ts), the client sees only the code.
  return new ConnectError(message, codes[code] ?? Code.Internal, undefined, undefined, code === 'internal' ? err : undefined)
}
