/**
 * @module e2b/envd/server — the in-sandbox protocol of E2B (envd) on tidepool's own port: a request with an
 * `E2b-Sandbox-Id` header, or for the host `49983-<id>.<domain>`, is envd's. `X-Access-Token` is checked
 * before anything else; Connect RPC (process.Process, filesystem.Filesystem) goes to connect-node, and
 * /health and /files are served here. Every call ends in dispatch, as the principal the token names.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Code, ConnectError, createContextValues } from '@connectrpc/connect'
import { connectNodeAdapter } from '@connectrpc/connect-node'
import { errorStatus } from '@tidepool/sdk'
import { AppError, codeOf } from '../../core/errors.js'
import type { Services } from '../../dispatch/services.js'
import { Filesystem } from '../gen/filesystem_pb.js'
import { Process } from '../gen/process_pb.js'
import { principalOfAccessToken } from '../keys.js'
import { checkSignedForm, signatureError, type AccessTokens } from '../signed-urls.js'
import { call } from '../call.js'
import { envdCallKey, type EnvdCall } from './context.js'
import { serveFiles } from './files-http.js'
import { filesystemService } from './filesystem.js'
import { processService } from './process.js'
import { watchService } from './watch.js'

/** The port envd listens on inside an E2B sandbox; the SDKs put it in host names and E2b-Sandbox-Port. */
export const ENVD_PORT = 49983
const SANDBOX_ID = /^sbx_[a-z0-9]{6,40}$/
const HOST_PREFIX = `${ENVD_PORT}-`

/** The sandbox an envd request is for, or undefined when it is not an envd request. */
export function envdSandboxOf(req: Pick<IncomingMessage, 'headers'>): string | undefined {
  const header = req.headers['e2b-sandbox-id']
  if (typeof header === 'string') return header
  const host = req.headers.host
  if (host && host.length <= 300 && host.startsWith(HOST_PREFIX)) {
    const dot = host.indexOf('.')
    const id = host.slice(HOST_PREFIX.length, dot < 0 ? undefined : dot)
    if (SANDBOX_ID.test(id)) return id
  }
  return undefined
}

/** GET or POST /files?…&signature=…: a signed file URL (sandbox.uploadUrl / downloadUrl), fetched with no other credential. */
export function isSignedFileUrl(url: string | undefined): boolean {
  return url !== undefined && url.startsWith('/files?') && /[?&]signature=/.test(url.slice(0, 8192))
}

/** sandboxId undefined: a signed file URL that names no sandbox (its signature says which). */
export type EnvdHandler = (req: IncomingMessage, res: ServerResponse, sandboxId: string | undefined) => void

export function createEnvdHandler(svc: Services, secret: Buffer, tokens: AccessTokens): EnvdHandler {
  const calls = new WeakMap<IncomingMessage, EnvdCall>()
  const rpc = connectNodeAdapter({
    routes: (router) => {
      router.service(Process, processService)
      router.service(Filesystem, { ...filesystemService, ...watchService })
    },
    contextValues: (req) => createContextValues().set(envdCallKey, calls.get(req as IncomingMessage)),
    // A server fault is logged with its stack; the client got `internal` and a pointer to this log.
    interceptors: [
      (next) => async (req) => {
        try {
          return await next(req)
        } catch (err) {
          if (err instanceof ConnectError && err.code === Code.Internal) svc.log.error({ err: err.cause ?? err, rpc: req.url }, 'e2b envd: internal error')
          throw err
        }
      },
    ],
  })
  return (req, res, named) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://envd')
      try {
        if (named !== undefined && !SANDBOX_ID.test(named)) throw new AppError('invalid_request', `E2b-Sandbox-Id ${JSON.stringify(named.slice(0, 64))} is not a sandbox id`)
        const header = req.headers['x-access-token']
        const given = typeof header === 'string' ? header : undefined
        if (named !== undefined && url.pathname === '/health' && req.method === 'GET') return await health(svc, secret, named, given, res)
        let sandboxId: string
        let token: string
        if (given === undefined && url.pathname === '/files' && url.searchParams.has('signature')) {
          ;({ sandboxId, token } = signedFileCall(tokens, req.method, url, named))
        } else if (named === undefined) {
          throw new AppError('invalid_request', 'no sandbox: send E2b-Sandbox-Id (or use the host 49983-<id>.<domain>)')
        } else {
          sandboxId = named
          token = given ?? ''
        }
        const principal = principalOfAccessToken(secret, sandboxId, token || undefined)
        tokens.remember(sandboxId, token)
        const c: EnvdCall = { svc, sandboxId, principal }
        if (url.pathname === '/files') return await serveFiles(c, req, res, url)
        calls.set(req, c)
        rpc(req, res)
      } catch (err) {
        if (codeOf(err) === 'internal') svc.log.error({ err, path: url.pathname }, 'e2b envd: internal error')
        fail(res, err)
      }
    })()
  }
}

/** The sandbox and access token a signed /files request was signed with; `unauthenticated` (with a reason) when none. */
function signedFileCall(tokens: AccessTokens, method: string | undefined, url: URL, named: string | undefined): { sandboxId: string; token: string } {
  if (method !== 'GET' && method !== 'POST') throw new AppError('invalid_request', `method ${method} is not served on /files; use GET or POST`)
  const q = url.searchParams
  const r = {
    path: q.get('path') ?? '',
    operation: method === 'GET' ? ('read' as const) : ('write' as const),
    user: q.get('username') ?? '',
    signature: q.get('signature') ?? '',
    expiration: q.get('signature_expiration') ?? undefined,
  }
  checkSignedForm(r, Date.now())
  const found = tokens.match(r, named)
  if (!found)
    throw signatureError(
      'signature_invalid',
      `the signature does not match this ${r.operation} of ${JSON.stringify(r.path.slice(0, 256))} for any sandbox access token this server knows; ask the SDK for a new URL`,
    )
  return found
}

/** 204 while the sandbox runs; 502 once it is gone (what the SDKs read as "the sandbox was killed"). */
async function health(svc: Services, secret: Buffer, id: string, token: string | undefined, res: ServerResponse): Promise<void> {
  if (!token) return void res.writeHead(204).end()
  const principal = principalOfAccessToken(secret, id, token)
  const s = await call(svc, principal, 'getSandbox', { id }).catch(() => undefined)
  if (!s || s.state === 'stopped') return fail(res, new AppError('not_found', `sandbox ${id} is not running`), 502)
  res.writeHead(204).end()
}

function fail(res: ServerResponse, err: unknown, status?: number): void {
  const code = codeOf(err)
  const s = status ?? errorStatus[code]
  const message = code === 'internal' ? 'internal error; see the tidepool server log' : (err as Error).message
  if (res.headersSent) return void res.destroy(err as Error)
  res.writeHead(s, { 'content-type': 'application/json' })
  // envd's shape ({code, message}), plus tidepool's stable code and, for a refused signature, why.
  const reason = (err as AppError).details && typeof (err as AppError).details === 'object' ? ((err as AppError).details as { reason?: unknown }).reason : undefined
  res.end(JSON.stringify({ code: s, message, error: code, ...(typeof reason === 'string' ? { reason } : {}) }))
}
