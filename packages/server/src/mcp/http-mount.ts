/**
 * @module mcp/http-mount — MCP over Streamable HTTP at `/mcp` on the API server.
 *
 * Every request carries a Bearer token (checked like any API call). A session (`Mcp-Session-Id`) is bound
 * to the token that opened it: another token naming it gets the same 404 as an unknown id, so session
 * ids cannot be probed. Each token has a bounded number of sessions; idle ones are closed.
 */
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { errorStatus, type Principal } from '@tidepool/sdk'
import type { Context, Hono } from 'hono'
import { AppError, codeOf } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { Services } from '../dispatch/services.js'
import { dispatchBackend } from './backend.js'
import { BoundedEventStore } from './event-store.js'
import { createMcpServer } from './server.js'

export interface McpHttpOptions {
  /** Open sessions one token may hold (default 16). */
  maxSessionsPerToken?: number
  /** A session unused this long is closed (default 15 minutes). */
  idleMs?: number
}

interface Session {
  tokenId: string
  principal: Principal
  transport: WebStandardStreamableHTTPServerTransport
  lastUsed: number
}

export interface McpHttpMount {
  /** Open sessions (for tests and metrics). */
  readonly size: number
  /** Closes the sessions idle longer than idleMs (run every minute; tests call it after moving the clock). */
  expireIdle(): Promise<number>
  close(): Promise<void>
}

/** Adds `/mcp` to the API's app (GET, POST, DELETE: the Streamable HTTP transport's three methods). */
export function mountMcp(app: Hono, svc: Services, opts: McpHttpOptions = {}): McpHttpMount {
  const maxPerToken = opts.maxSessionsPerToken ?? 16
  const idleMs = opts.idleMs ?? 15 * 60_000
  const sessions = new Map<string, Session>()

  const close = async (id: string) => {
    const s = sessions.get(id)
    sessions.delete(id)
    await s?.transport.close().catch(() => {})
  }
  const expireIdle = async () => {
    const now = svc.clock.now()
    const idle = [...sessions].filter(([, s]) => now - s.lastUsed > idleMs).map(([id]) => id)
    await Promise.all(idle.map(close))
    return idle.length
  }
  const sweep = setInterval(() => void expireIdle(), Math.max(1_000, Math.min(idleMs, 60_000)))
  sweep.unref()

  app.on(['GET', 'POST', 'DELETE'], '/mcp', async (c) => {
    try {
      // DNS rebinding: a page in a browser may reach a loopback server under another name. Browsers send
      // Origin; one that names another host than the request's own is refused before anything else.
      const origin = c.req.header('origin')
      if (origin !== undefined && !sameHost(origin, c.req.header('host')))
        throw new AppError('policy_denied', `Origin ${origin.slice(0, 200)} may not use this MCP endpoint; MCP clients send no Origin, or the server's own`)
      const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]?.trim()
      const principal = await svc.tokens.authenticate(bearer)
      const id = c.req.header('mcp-session-id')
      if (id !== undefined) {
        const s = sessions.get(id)
        if (!s || s.tokenId !== principal.tokenId) return jsonRpcError(c, 404, -32001, 'session not found; initialize a new session')
        s.lastUsed = svc.clock.now()
        s.principal = principal
        return await s.transport.handleRequest(c.req.raw)
      }
      if (c.req.method !== 'POST') return jsonRpcError(c, 400, -32000, 'Mcp-Session-Id header required; initialize with a POST first')
      const held = [...sessions.values()].filter((s) => s.tokenId === principal.tokenId).length
      if (held >= maxPerToken) {
        throw new AppError('quota_exceeded', `this token already holds ${held} MCP sessions (limit ${maxPerToken}); close one (DELETE /mcp) or wait for idle ones to expire`, {
          scope: 'mcp_sessions',
          limit: maxPerToken,
          used: held,
          retryAfter: 60,
        })
      }
      const session: Partial<Session> = { tokenId: principal.tokenId, principal, lastUsed: svc.clock.now() }
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => newId('mcps', 32),
        eventStore: new BoundedEventStore(),
        onsessioninitialized: (sid) => void sessions.set(sid, session as Session),
        onsessionclosed: (sid) => void sessions.delete(sid),
      })
      session.transport = transport
      const server = createMcpServer(
        dispatchBackend(svc, () => session.principal!),
        { log: svc.log.child({ shell: 'mcp-http' }) },
      )
      await server.connect(transport)
      return await transport.handleRequest(c.req.raw)
    } catch (err) {
      return apiError(c, err, svc)
    }
  })

  return {
    get size() {
      return sessions.size
    },
    expireIdle,
    close: async () => {
      clearInterval(sweep)
      await Promise.all([...sessions.keys()].map(close))
    },
  }
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host
  } catch {
    return false
  }
}

function jsonRpcError(c: Context, status: 400 | 404, code: number, message: string): Response {
  return c.json({ jsonrpc: '2.0', error: { code, message }, id: null }, status)
}

function apiError(c: Context, err: unknown, svc: Services): Response {
  const code = codeOf(err)
  if (code === 'internal') svc.log.error({ err }, 'mcp: internal error')
  const status = errorStatus[code] as 400
  const headers: Record<string, string> = code === 'unauthenticated' ? { 'www-authenticate': 'Bearer' } : code === 'quota_exceeded' ? { 'retry-after': '60' } : {}
  const message = code === 'internal' ? 'internal error' : (err as Error).message
  return c.json({ error: { code, message } }, status, headers)
}
