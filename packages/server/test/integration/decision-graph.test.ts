/**
 * The decision graph of a three-step agent run, for real: calls made through the SDK (CallMeta in the
 * x-tidepool-meta header) and through the real MCP client over Streamable HTTP (CallMeta in `_meta`),
 * against a LocalRuntime sandbox; then the run read back as JSON and Mermaid, and a bad CallMeta refused.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ApiError, createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, skipReason } from './support/host.js'

describe.skipIf(skipReason)('decision graph of an agent run (SDK and MCP)', () => {
  const cgroupName = `tidepool-it-graph-${process.pid}`
  const run = `run-${process.pid}`
  let home: string
  let cp: ControlPlane
  let url: string
  let admin: string

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-graph-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    admin = cp.adminToken!
  }, 60_000)
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('links prompt → model → action → result across three steps, and draws it', async () => {
    const model = { model: 'claude-test', modelVersion: '2026-12', parameters: { temperature: 0 } }
    // Step 1 (SDK): create a sandbox. Its x-request-id is the next step's parentId.
    const agent = createClient({ baseUrl: url, token: admin, meta: { runId: run, prompt: 'Make the failing test pass (ünïcode)', ...model } })
    // The reads that check the log go through a client that names no run (they are not steps of it).
    const reader = createClient({ baseUrl: url, token: admin })
    const sbx = await agent.createSandbox({})
    const step1 = (await reader.listAudit({ run })).items.find((r) => r.action === 'createSandbox')!
    expect(step1.call).toMatchObject({ runId: run, prompt: 'Make the failing test pass (ünïcode)', model: 'claude-test' })
    // Step 2 (SDK): a read, audited because it belongs to the run.
    await agent.getSandbox({ id: sbx.id }, { meta: { runId: run, parentId: step1.requestId!, prompt: 'Look at it', ...model } })
    const step2 = (await reader.listAudit({ run })).items.find((r) => r.action === 'getSandbox')!
    // Step 3 (MCP over Streamable HTTP): exec, with its CallMeta in _meta.
    const mcp = new Client({ name: 'graph-test', version: '1' })
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${admin}` } } }))
    try {
      const r = await mcp.callTool({ name: 'exec', arguments: { id: sbx.id, cmd: ['sh', '-c', 'echo ok; exit 3'] }, _meta: { runId: run, parentId: step2.requestId!, prompt: 'Run it', ...model } })
      expect(r.isError ?? false).toBe(false)
      // The result names its audit record, so an MCP client can make it the next step's parentId.
      const step3 = (await reader.listAudit({ run })).items.find((x) => x.action === 'exec')!
      expect(r._meta).toEqual({ requestId: step3.requestId })
    } finally {
      await mcp.close()
    }

    const g = await reader.auditGraph({ run })
    expect(g.records).toBe(3)
    const actions = g.nodes.filter((n) => n.kind === 'action').map((n) => n.label)
    expect(actions).toEqual([expect.stringMatching(/^createSandbox/), `getSandbox ${sbx.id}`, `exec ${sbx.id}`])
    expect(g.nodes.filter((n) => n.kind === 'prompt')).toHaveLength(3)
    expect(g.nodes.filter((n) => n.kind === 'model').every((n) => n.label === 'claude-test@2026-12')).toBe(true)
    // Each step led to the next, and the exec's result says how it ended.
    expect(g.edges.filter((e) => e.kind === 'led_to')).toHaveLength(2)
    expect(g.nodes.find((n) => n.kind === 'result' && n.label.includes('exit 3'))).toBeDefined()
    expect(g.mermaid).toContain('-->|led_to|')
    // Another project sees nothing of the run.
    const other = (await reader.createToken({ project: 'other', scopes: ['audit:read'] })).token
    expect((await createClient({ baseUrl: url, token: other }).auditGraph({ run })).records).toBe(0)
    // The chain still verifies with the new fields in it.
    expect((await reader.verifyAudit({})).ok).toBe(true)
  })

  it('refuses a bad CallMeta before doing anything', async () => {
    const res = await fetch(`${url}/v1/sandboxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'x-tidepool-meta': '{"runId":"a b","__proto__":{"x":1}}' },
      body: '{}',
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_request')
    const bad = createClient({ baseUrl: url, token: admin, meta: { runId: 'ok', parentId: 'x'.repeat(200) } })
    await expect(bad.createSandbox({})).rejects.toBeInstanceOf(ApiError)
    expect((await createClient({ baseUrl: url, token: admin }).listSandboxes({})).items).toHaveLength(1)
  })
})
