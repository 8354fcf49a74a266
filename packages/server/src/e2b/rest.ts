/**
 * @module e2b/rest — the control-plane REST API of E2B (the paths the e2b SDKs call at E2B_API_URL), a
 * thin shell over dispatch: each route is one or two tidepool operations, errors in E2B's `{code, message}`.
 */
import type { OpOutput, Principal } from '@tidepool/sdk'
import type { Context, Hono } from 'hono'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { checkKey, parseJsonSafely } from '../core/safe-input.js'
import type { Services } from '../dispatch/services.js'
import { call } from './call.js'
import { accessTokenFor, tokenOfApiKey } from './keys.js'
import type { AccessTokens } from './signed-urls.js'
import { networkOf } from './network.js'
import { isSnapshotId, mountE2bSnapshots } from './rest-snapshots.js'
import { created, errorBody, listed, templateOf, timeoutMsOf } from './shape.js'

const MAX_BODY_BYTES = 1024 * 1024
/** E2B's default sandbox timeout when a call names none. */
const DEFAULT_TIMEOUT_MS = 300_000

export interface E2bRestOptions {
  secret: Buffer
  tokens: AccessTokens
  /** The sandbox domain the SDK builds host names with (getHost): `<port>-<id>.<domain>`. */
  domain: () => string
}

type Sandbox = OpOutput<'getSandbox'>
type Route = (c: Context, p: Principal) => Promise<Response>

export function mountE2bRest(app: Hono, svc: Services, o: E2bRestOptions): void {
  const access = (s: Sandbox, p: Principal) => {
    const envdAccessToken = accessTokenFor(o.secret, s.id, p)
    o.tokens.remember(s.id, envdAccessToken) // what signed file URLs are checked against
    return { envdAccessToken, domain: o.domain() }
  }
  const on = (method: string, path: string, route: Route) =>
    app.on(method, path, async (c) => {
      const requestId = newId('req', 12)
      try {
        return await route(c, await principalOf(c, svc))
      } catch (err) {
        const { status, body } = errorBody(err, requestId)
        if (status === 500) svc.log.error({ err, requestId }, 'e2b: internal error')
        return c.json(body, status as 500, { 'x-request-id': requestId })
      }
    })
  const get = (p: Principal, id: string) => call(svc, p, 'getSandbox', { id }).then(live)

  const create: Route = async (c, p) => {
    const b = await bodyOf(c)
    const autoPause = b.autoPause === true
    const autoResume = (b.autoResume as { enabled?: unknown } | undefined)?.enabled === true
    const templateID = b.templateID as string | undefined
    const network = networkOf(b.allow_internet_access, b.network)
    const s = await call(svc, p, 'createSandbox', {
      ...(isSnapshotId(templateID) ? { fromSnapshot: templateID } : { template: templateOf(templateID) }),
      ...(network ? { network } : {}),
      timeoutMs: timeoutMsOf(b.timeout, DEFAULT_TIMEOUT_MS),
      ...(autoPause ? { lifecycle: { onTimeout: 'pause', autoResume } } : {}),
      envs: (b.envVars ?? {}) as Record<string, string>,
      metadata: (b.metadata ?? {}) as Record<string, string>,
    })
    return c.json(created(s, access(s, p)), 201)
  }
  // The SDKs of 2024-25 call the v1 paths, the current ones the v2 forms: same bodies, same answers.
  on('POST', '/sandboxes', create)
  on('POST', '/v2/sandboxes', create)
  on('GET', '/v2/sandboxes', async (c, p) => {
    const page = await call(svc, p, 'listSandboxes', listQuery(c))
    const headers: Record<string, string> = page.nextToken ? { 'x-next-token': page.nextToken } : {}
    return c.json(page.items.map(listed), 200, headers)
  })
  on('GET', '/sandboxes', async (c, p) => {
    const page = await call(svc, p, 'listSandboxes', { ...listQuery(c), state: 'running' })
    return c.json(page.items.map(listed), 200)
  })
  on('GET', '/sandboxes/:id', async (c, p) => {
    const s = await get(p, param(c))
    return c.json({ ...listed(s), ...access(s, p) }, 200)
  })
  on('DELETE', '/sandboxes/:id', async (c, p) => {
    await get(p, param(c)) // E2B answers 404 for a sandbox that is gone; tidepool's delete is idempotent
    await call(svc, p, 'deleteSandbox', { id: param(c) })
    return c.body(null, 204)
  })
  on('POST', '/sandboxes/:id/timeout', async (c, p) => {
    const b = await bodyOf(c)
    await get(p, param(c))
    await call(svc, p, 'patchSandbox', { id: param(c), timeoutMs: timeoutMsOf(b.timeout, DEFAULT_TIMEOUT_MS) })
    return c.body(null, 204)
  })
  const connect: Route = async (c, p) => {
    const b = await bodyOf(c)
    const id = param(c)
    const before = await get(p, id)
    if (before.state === 'paused') await call(svc, p, 'resumeSandbox', { id })
    const s = await call(svc, p, 'patchSandbox', { id, timeoutMs: timeoutMsOf(b.timeout, DEFAULT_TIMEOUT_MS) })
    return c.json(created(s, access(s, p)), before.state === 'paused' ? 201 : 200)
  }
  on('POST', '/sandboxes/:id/connect', connect)
  on('POST', '/v2/sandboxes/:id/connect', connect)
  on('POST', '/sandboxes/:id/pause', async (c, p) => {
    const s = await get(p, param(c))
    if (s.state === 'paused') throw new AppError('conflict', `sandbox ${s.id} is already paused`)
    await call(svc, p, 'pauseSandbox', { id: s.id })
    return c.body(null, 204)
  })
  on('POST', '/sandboxes/:id/resume', async (c, p) => {
    const b = await bodyOf(c)
    const id = param(c)
    const before = await get(p, id)
    if (before.state !== 'paused') throw new AppError('conflict', `sandbox ${id} is not paused`)
    await call(svc, p, 'resumeSandbox', { id })
    const s = await call(svc, p, 'patchSandbox', { id, timeoutMs: timeoutMsOf(b.timeout, DEFAULT_TIMEOUT_MS) })
    return c.json(created(s, access(s, p)), 201)
  })
  mountE2bSnapshots(svc, { on, get, access, body: bodyOf, defaultTimeoutMs: DEFAULT_TIMEOUT_MS })
  on('GET', '/sandboxes/:id/metrics', async (c, p) => {
    const s = await get(p, param(c))
    const m = await call(svc, p, 'getSandboxMetrics', { id: s.id })
    const at = Date.parse(m.at)
    return c.json(
      [
        {
          timestamp: m.at,
          timestampUnix: Math.floor(at / 1000),
          cpuCount: Math.max(1, Math.round(s.resources.cpu ?? 1)),
          cpuUsedPct: 0,
          memUsed: m.memoryBytes,
          memTotal: m.memoryLimitBytes,
          diskUsed: m.diskBytes ?? 0,
          diskTotal: m.diskLimitBytes ?? 0,
        },
      ],
      200,
    )
  })
}

/** A sandbox that ended is not found, as E2B says of a killed one. */
function live(s: Sandbox): Sandbox {
  if (s.state === 'stopped') throw new AppError('not_found', `sandbox ${s.id} not found (it stopped: ${s.reason})`)
  return s
}

async function principalOf(c: Context, svc: Services): Promise<Principal> {
  const key = c.req.header('x-api-key')
  const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1]
  if (!key && !bearer) throw new AppError('unauthenticated', 'missing X-API-KEY: set E2B_API_KEY to what `tidepool e2b env` prints')
  return svc.tokens.authenticate(key ? tokenOfApiKey(key) : bearer)
}

/** The JSON body (an object), bounded, null-prototype; empty is `{}`. */
async function bodyOf(c: Context): Promise<Record<string, unknown>> {
  if (Number(c.req.header('content-length') ?? '0') > MAX_BODY_BYTES) throw new AppError('payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`)
  const text = await c.req.text()
  if (text.length > MAX_BODY_BYTES) throw new AppError('payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`)
  if (!text.trim()) return Object.create(null) as Record<string, unknown>
  const body = parseJsonSafely(text, 'request body')
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new AppError('invalid_request', 'request body must be a JSON object')
  return body as Record<string, unknown>
}

/** GET /v2/sandboxes?metadata=<url-encoded k=v&…>&state=running,paused&limit=&nextToken= as listSandboxes input. */
function listQuery(c: Context): { state?: 'running' | 'paused'; metadata?: Record<string, string>; limit?: number; nextToken?: string } {
  const q: { state?: 'running' | 'paused'; metadata?: Record<string, string>; limit?: number; nextToken?: string } = {}
  const meta = c.req.query('metadata')
  if (meta) {
    const filter = Object.create(null) as Record<string, string>
    for (const [k, v] of new URLSearchParams(meta)) {
      checkKey(k, 'metadata')
      filter[k] = v
    }
    q.metadata = filter
  }
  const states = (c.req.query('state') ?? '').split(',').filter(Boolean)
  if (states.some((s) => s !== 'running' && s !== 'paused')) throw new AppError('invalid_request', `state must be running and/or paused (got ${c.req.query('state')})`)
  if (states.length === 1) q.state = states[0] as 'running' | 'paused'
  const limit = c.req.query('limit')
  if (limit) q.limit = Number(limit)
  const next = c.req.query('nextToken')
  if (next) q.nextToken = next
  return q
}

function param(c: Context): string {
  return c.req.param('id') ?? ''
}
