import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane, type ControlPlane } from '../main.js'
import { FakeRuntime } from '../runtime/fake.js'

let cp: ControlPlane
let home: string
let t = Date.parse('2026-01-01T00:00:00Z')
const clock = { now: () => t }

beforeEach(async () => {
  home = mkdtempSync(join(tmpdir(), 'tidepool-mcp-'))
  const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent' } })
  cp = await buildControlPlane(config, { runtime: new FakeRuntime(), clock, logger: silentLogger, reaper: false, mcp: { maxSessionsPerToken: 2, idleMs: 60_000 } })
})
afterEach(async () => {
  await cp.close()
  rmSync(home, { recursive: true, force: true })
})

/** A real MCP client whose HTTP requests go straight into the app (no port). */
async function connect(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL('http://tidepool.test/mcp'), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    fetch: async (url, init) => cp.app.request(String(url), init as RequestInit),
  })
  const client = new Client({ name: 'test', version: '1' })
  await client.connect(transport)
  return { client, transport }
}

describe('MCP over Streamable HTTP', () => {
  it('bounds the sessions of one token; closing one frees its place', async () => {
    const a = await connect(cp.adminToken!)
    await connect(cp.adminToken!)
    await expect(connect(cp.adminToken!)).rejects.toThrow(/429|quota_exceeded|MCP sessions/)
    expect(cp.mcp.size).toBe(2)
    await a.transport.terminateSession()
    expect(cp.mcp.size).toBe(1)
    await connect(cp.adminToken!)
    expect(cp.mcp.size).toBe(2)
  })

  it('closes idle sessions; a closed session id is 404 and the client can start over', async () => {
    const { client, transport } = await connect(cp.adminToken!)
    expect((await client.listTools()).tools.length).toBeGreaterThan(5)
    t += 30_000
    expect(await cp.mcp.expireIdle()).toBe(0)
    await client.listTools() // used: the idle time starts again
    t += 60_001
    expect(await cp.mcp.expireIdle()).toBe(1)
    expect(cp.mcp.size).toBe(0)
    const res = await cp.app.request('/mcp', {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId! },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    })
    expect(res.status).toBe(404)
    await connect(cp.adminToken!)
  })

  it('refuses a browser page from another origin (DNS rebinding), before the token is looked at', async () => {
    const headers = { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })
    const evil = await cp.app.request('http://127.0.0.1:7070/mcp', { method: 'POST', headers: { ...headers, host: '127.0.0.1:7070', origin: 'http://evil.example' }, body })
    expect(evil.status).toBe(403)
    expect(cp.mcp.size).toBe(0)
    const same = await cp.app.request('http://127.0.0.1:7070/mcp', { method: 'POST', headers: { ...headers, host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7070' }, body })
    expect(same.status).toBe(200)
    await same.body?.cancel()
  })

  it('refuses a request without a token, and a GET that names no session', async () => {
    expect((await cp.app.request('/mcp', { method: 'POST', body: '{}' })).status).toBe(401)
    expect((await cp.app.request('/mcp', { method: 'GET', headers: { authorization: `Bearer ${cp.adminToken}` } })).status).toBe(400)
  })

  it('refuses tool arguments that would reach a prototype, as invalid_request', async () => {
    const { client } = await connect(cp.adminToken!)
    const r = (await client.callTool({ name: 'create_sandbox', arguments: JSON.parse('{"metadata":{"__proto__":{"x":"1"}}}') })) as { isError?: boolean; structuredContent?: unknown }
    expect(r.isError).toBe(true)
    expect(r.structuredContent).toMatchObject({ error: { code: 'invalid_request' } })
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('audits an action run through MCP like any API call, with the same actor', async () => {
    const { client } = await connect(cp.adminToken!)
    const r = (await client.callTool({ name: 'action_assert_equals', arguments: { actual: { a: 1 }, expected: { a: 2 } } })) as { structuredContent?: unknown; _meta?: unknown }
    expect(r.structuredContent).toEqual({ ok: false, output: { equal: false, firstDifference: '$.a' } })
    const audit = (await (await cp.app.request('/v1/audit?action=runAction', { headers: { authorization: `Bearer ${cp.adminToken}` } })).json()) as {
      items: { action: string; target?: string; outcome: string; requestId?: string }[]
    }
    expect(audit.items).toEqual([expect.objectContaining({ action: 'runAction', target: 'assert.equals', outcome: 'ok' })])
    // The result's _meta names that record: what a client passes on as the next call's parentId.
    expect(r._meta).toEqual({ requestId: audit.items[0]!.requestId })
    expect(audit.items[0]!.requestId).toMatch(/^req_/)
  })
})
