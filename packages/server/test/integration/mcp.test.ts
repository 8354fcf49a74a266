/**
 * The MCP server for real, with the MCP SDK's own Client, over both transports: stdio (the built
 * `tidepool mcp`, a client of the HTTP API) and Streamable HTTP at /mcp on the API server. The server
 * runs LocalRuntime (namespaces, cgroups), so tool calls start real sandboxes and commands.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-mcp-${process.pid}`
let home: string
let cp: ControlPlane
let url: string
let admin: string
let reader: string
const opened: Client[] = []

type Transport = 'stdio' | 'http'

async function connect(kind: Transport, token: string): Promise<{ client: Client; transport: StdioClientTransport | StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'tidepool-test', version: '1' })
  const transport =
    kind === 'stdio'
      ? // An explicit minimal environment: the server URL, the token, PATH for node's own lookups, a home.
        new StdioClientTransport({ command: process.execPath, args: [cliPath, 'mcp'], env: { TIDEPOOL_URL: url, TIDEPOOL_TOKEN: token, TIDEPOOL_HOME: home, PATH: '/usr/bin:/bin' }, stderr: 'pipe' })
      : new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } })
  await client.connect(transport)
  opened.push(client)
  return { client, transport }
}

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown>; _meta?: Record<string, unknown> }
const call = async (c: Client, name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number; message?: string }) => void) =>
  (await c.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress, resetTimeoutOnProgress: true } : undefined)) as ToolResult

describe.skipIf(skipReason)('MCP server (real runtime, real MCP client)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-mcp-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    admin = cp.adminToken!
    const api = createClient({ baseUrl: url, token: admin })
    reader = (await api.createToken({ project: 'default', scopes: ['sandboxes:read'], name: 'mcp-reader' })).token
  })
  afterAll(async () => {
    for (const c of opened) await c.close().catch(() => {})
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  describe.each(['stdio', 'http'] as const)('over %s', (kind) => {
    it('lists the flagged operations and the actions as tools, with truthful annotations', async () => {
      const { client } = await connect(kind, admin)
      const { tools } = await client.listTools()
      const byName = new Map(tools.map((t) => [t.name, t]))
      for (const name of ['create_sandbox', 'list_sandboxes', 'delete_sandbox', 'exec', 'read_file', 'write_file', 'get_run_triage', 'action_assert_equals', 'action_files_diff'])
        expect(byName.has(name), name).toBe(true)
      expect(byName.get('list_sandboxes')!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false })
      expect(byName.get('delete_sandbox')!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true })
      expect(byName.get('create_sandbox')!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false })
      expect(byName.get('action_assert_equals')!.annotations).toMatchObject({ readOnlyHint: true })
      expect(byName.get('exec')!.inputSchema).toMatchObject({ type: 'object', required: expect.arrayContaining(['id', 'cmd']) })
      for (const t of tools) expect(t.inputSchema.type, t.name).toBe('object')
    })

    it('creates a sandbox, streams exec output as progress, writes and reads a file, runs actions, kills it', async () => {
      const { client } = await connect(kind, admin)
      const created = await call(client, 'create_sandbox', { metadata: { suite: `mcp-${kind}` } })
      expect(created.isError, created.content[0]?.text).toBeFalsy()
      const id = created.structuredContent!.id as string
      // Over both transports the result names the call's audit record (a next step's parentId).
      const audited = (await createClient({ baseUrl: url, token: admin }).listAudit({ target: id, action: 'createSandbox' })).items
      expect(created._meta).toEqual({ requestId: audited[0]!.requestId })
      const progress: string[] = []
      const r = await call(client, 'exec', { id, cmd: 'echo one; sleep 0.2; echo two >&2; echo three' }, (p) => progress.push(p.message ?? ''))
      expect(r.isError).toBeFalsy()
      expect(r.structuredContent).toMatchObject({ exitCode: 0, stdout: 'one\nthree\n', stderr: 'two\n' })
      // Streamed: the first chunk came as progress 0.2 s before the rest. Later chunks may not: the SDK's
      // client runs notification handlers a microtask after it reads them but a response at once, so
      // progress read in the same chunk as the response is dropped (the result has all the output).
      expect(progress.join('')).toContain('one')

      expect((await call(client, 'write_file', { id, path: '/workspace/note.txt', content: 'héllo mcp\n' })).isError).toBeFalsy()
      const read = await call(client, 'read_file', { id, path: '/workspace/note.txt' })
      expect(read.structuredContent).toMatchObject({ encoding: 'utf8', content: 'héllo mcp\n' })
      const bin = await call(client, 'write_file', { id, path: '/tmp/b', content: Buffer.from([0, 255, 1]).toString('base64'), encoding: 'base64' })
      expect(bin.isError).toBeFalsy()
      expect((await call(client, 'read_file', { id, path: '/tmp/b', encoding: 'base64' })).structuredContent).toMatchObject({ content: 'AP8B', bytes: 3 })

      // files.mark → change → files.diff, twice the same: deterministic output.
      const mark = await call(client, 'action_files_mark', { sandboxId: id, root: '/workspace' })
      expect(mark.structuredContent).toMatchObject({ ok: true })
      await call(client, 'exec', { id, cmd: 'echo new > /workspace/new.txt; echo changed > /workspace/note.txt' })
      const since = (mark.structuredContent!.output as { mark: unknown }).mark
      const d1 = await call(client, 'action_files_diff', { sandboxId: id, since })
      const d2 = await call(client, 'action_files_diff', { sandboxId: id, since })
      expect(d1.structuredContent).toEqual({ ok: true, output: { added: ['/workspace/new.txt'], changed: ['/workspace/note.txt'], removed: [], unchanged: 0 } })
      expect(d2.content[0]!.text).toBe(d1.content[0]!.text)

      // A log line appears after a while: wait.for sees it; logs.capture returns what was added since the mark.
      const lm = await call(client, 'action_logs_mark', { sandboxId: id, file: '/tmp/app.log' })
      const from = (lm.structuredContent!.output as { offset: number }).offset
      await call(client, 'exec', { id, cmd: 'sleep 0.3; echo ready >> /tmp/app.log', background: true })
      const w = await call(client, 'action_wait_for', { sandboxId: id, condition: { kind: 'log', file: '/tmp/app.log', contains: 'ready' }, timeoutMs: 20_000 })
      expect(w.structuredContent).toMatchObject({ ok: true, output: { met: true } })
      const cap = await call(client, 'action_logs_capture', { sandboxId: id, file: '/tmp/app.log', from })
      expect(cap.structuredContent).toMatchObject({ ok: true, output: { text: 'ready\n', from: 0, to: 6, rotated: false, truncated: false } })

      expect((await call(client, 'delete_sandbox', { id })).isError).toBeFalsy()
      expect(leftovers(cgroupName, [id])).toEqual([])
    })

    it('a failing call is a tool result with the API code, and the session goes on', async () => {
      const { client } = await connect(kind, admin)
      const missing = await call(client, 'exec', { id: 'sbx_doesnotexist1', cmd: 'true' })
      expect(missing.isError).toBe(true)
      expect(missing.content[0]!.text).toMatch(/^not_found: /)
      expect(missing.structuredContent).toMatchObject({ error: { code: 'not_found' } })
      const invalid = await call(client, 'create_sandbox', { resources: { cpu: 'lots' } })
      expect(invalid.isError).toBe(true)
      expect(invalid.structuredContent).toMatchObject({ error: { code: 'invalid_request' } })
      expect(invalid.content[0]!.text).toContain('resources.cpu')
      const badAction = await call(client, 'action_assert_match', { value: 'aa', pattern: '(a)\\1' })
      expect(badAction.structuredContent).toMatchObject({ error: { code: 'invalid_request' } })
      const unknown = await call(client, 'no_such_tool', {})
      expect(unknown.isError).toBe(true)
      // Still usable after errors.
      expect((await call(client, 'action_assert_equals', { actual: [1, { a: 2 }], expected: [1, { a: 2 }] })).structuredContent).toEqual({ ok: true, output: { equal: true } })
    })

    it('a token without sandboxes:write cannot create (policy_denied), but may list', async () => {
      const { client } = await connect(kind, reader)
      const denied = await call(client, 'create_sandbox', {})
      expect(denied.isError).toBe(true)
      expect(denied.structuredContent).toMatchObject({ error: { code: 'policy_denied' } })
      expect((await call(client, 'list_sandboxes', {})).isError).toBeFalsy()
    })
  })

  it('wait.for sees a port open and an HTTP status inside the sandbox, http.request talks to it, wait.for gives up at its deadline', async () => {
    const { client } = await connect('http', admin)
    const id = (await call(client, 'create_sandbox', {})).structuredContent!.id as string
    const server = [
      "require('http').createServer((q, s) => {",
      "  let b = ''; q.on('data', (c) => (b += c)); q.on('end', () => {",
      "    if (q.url === '/health') { s.statusCode = 204; return s.end() }",
      "    if (q.url === '/echo') { s.setHeader('content-type', 'application/json'); return s.end(JSON.stringify({ method: q.method, body: b, x: q.headers['x-test'] })) }",
      '    s.statusCode = 404; s.end()',
      '  })',
      "}).listen(8123, '127.0.0.1')",
    ].join('\n')
    expect((await call(client, 'exec', { id, cmd: ['node', '-e', server], background: true })).isError).toBeFalsy()
    const port = await call(client, 'action_wait_for', { sandboxId: id, condition: { kind: 'port', port: 8123 }, timeoutMs: 20_000 })
    expect(port.structuredContent).toEqual({ ok: true, output: { met: true, condition: 'port 8123 listening' } })
    const http = await call(client, 'action_wait_for', { sandboxId: id, condition: { kind: 'http', port: 8123, path: '/health', status: 204 }, timeoutMs: 20_000 })
    expect(http.structuredContent).toMatchObject({ ok: true, output: { met: true } })
    const req = { sandboxId: id, method: 'POST', port: 8123, path: '/echo', headers: { 'x-test': 'yes', 'content-type': 'text/plain' }, body: 'hi' }
    const echo = await call(client, 'action_http_request', req)
    expect(echo.structuredContent).toMatchObject({ ok: true, output: { status: 200, json: { method: 'POST', body: 'hi', x: 'yes' }, truncated: false } })
    expect((echo.structuredContent!.output as { headers: Record<string, string> }).headers.date).toBeUndefined()
    // Deterministic: the same request twice gives the same bytes (no date header, sorted keys).
    expect((await call(client, 'action_http_request', req)).content[0]!.text).toBe(echo.content[0]!.text)
    const missing = await call(client, 'action_http_request', { sandboxId: id, port: 8123, path: '/nope' })
    expect(missing.structuredContent).toMatchObject({ ok: false, output: { status: 404 } })
    const closed = await call(client, 'action_http_request', { sandboxId: id, port: 8125 })
    expect(closed.structuredContent).toMatchObject({ error: { code: 'conflict' } })
    const never = await call(client, 'action_wait_for', { sandboxId: id, condition: { kind: 'port', port: 8124 }, timeoutMs: 300 })
    expect(never.structuredContent).toEqual({ ok: false, output: { met: false, condition: 'port 8124 listening' } })
    expect((await call(client, 'delete_sandbox', { id })).isError).toBeFalsy()
    // Under load (CI, after other suites) its cgroups were once seen for a moment after the delete
    // returned; the cause is not found yet, so wait a bounded while and fail if they stay.
    for (let i = 0; i < 50 && leftovers(cgroupName, [id]).length > 0; i++) await new Promise((r) => setTimeout(r, 100))
    expect(leftovers(cgroupName, [id])).toEqual([])
  })

  it('serves a run triage as a Markdown resource and a sandbox event log', async () => {
    const api = createClient({ baseUrl: url, token: admin })
    await api.createRun({ id: 'mcp-run-1', commit: 'f00', branch: 'main' })
    const xml =
      '<testsuite name="s" tests="2"><testcase classname="a" name="ok"/><testcase classname="a" name="bad"><failure message="expected 1 got 2">AssertionError: expected 1 got 2</failure></testcase></testsuite>'
    await api.ingestJunit({ id: 'mcp-run-1', body: xml, name: 'r.xml' } as never)
    const { client } = await connect('http', admin)
    const { resourceTemplates } = await client.listResourceTemplates()
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['tidepool://runs/{runId}/triage.md', 'tidepool://sandboxes/{sandboxId}/events', 'tidepool://workflows/runs/{runId}/report.md'])
    const md = await client.readResource({ uri: 'tidepool://runs/mcp-run-1/triage.md' })
    expect(md.contents[0]).toMatchObject({ mimeType: 'text/markdown' })
    expect((md.contents[0] as { text: string }).text).toContain('bad')
    const id = (await call(client, 'create_sandbox', {})).structuredContent!.id as string
    await call(client, 'exec', { id, cmd: 'true' })
    const ev = await client.readResource({ uri: `tidepool://sandboxes/${id}/events` })
    expect((ev.contents[0] as { text: string }).text).toContain('state_changed')
    await call(client, 'delete_sandbox', { id })
    await expect(client.readResource({ uri: 'tidepool://nope' })).rejects.toThrow(/no resource/)
  })

  it('an HTTP session is bound to its token: another token naming it gets 404, no token gets 401', async () => {
    const { transport } = await connect('http', admin)
    const sid = (transport as StreamableHTTPClientTransport).sessionId!
    expect(sid).toMatch(/^mcps_/)
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} })
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }
    const other = await fetch(`${url}/mcp`, { method: 'POST', body, headers: { ...headers, authorization: `Bearer ${reader}` } })
    expect(other.status).toBe(404)
    const none = await fetch(`${url}/mcp`, { method: 'POST', body, headers })
    expect(none.status).toBe(401)
    const own = await fetch(`${url}/mcp`, { method: 'POST', body, headers: { ...headers, authorization: `Bearer ${admin}` } })
    expect(own.status).toBe(200)
    await own.body?.cancel()
  })
})
