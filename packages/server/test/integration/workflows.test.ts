/**
 * Workflows for real: LocalRuntime sandboxes, the HTTP API, the example workflow file (its http.request
 * step talks to a service the workflow starts inside the sandbox), reports, replay, JUnit ingest.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createClient, type Client } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-wf-${process.pid}`
const example = readFileSync(new URL('../../../../examples/tidepool.workflow.yaml', import.meta.url), 'utf8')
let home: string
let cp: ControlPlane
let api: Client
let sandboxId: string
let url: string

describe.skipIf(skipReason)('workflows (real runtime, real HTTP)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-wf-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    api = createClient({ baseUrl: url, token: cp.adminToken! })
    sandboxId = (await api.createSandbox({})).id
    const server =
      "require('http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); s.end(JSON.stringify({ name: process.env.NAME, path: q.url })) }).listen(8123, '127.0.0.1')"
    await api.exec({ id: sandboxId, cmd: ['sh', '-c', 'exec node -e "$0" >/tmp/service.log 2>&1', server], envs: { NAME: 'tidepool' }, background: true })
  })
  afterAll(async () => {
    if (sandboxId) await api.deleteSandbox({ id: sandboxId }).catch(() => {})
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('runs the example: its http.request step reaches a service running in the sandbox; same JSON report on replay', async () => {
    const run = await api.runWorkflow({ workflow: example, inputs: { name: 'tidepool' }, sandboxId })
    expect(
      run.steps.map((s) => [s.id, s.status]),
      JSON.stringify(run.steps),
    ).toEqual([
      ['ready', 'passed'],
      ['hello', 'passed'],
      ['check', 'passed'],
      ['log', 'skipped'],
    ])
    expect(run.steps[1]!.output).toMatchObject({ status: 200, json: { name: 'tidepool', path: '/hello' } })
    const again = await api.replayWorkflowRun({ id: run.id })
    expect(again.replayOf).toBe(run.id)
    const a = await api.getWorkflowReport({ id: run.id, format: 'json' })
    const b = await api.getWorkflowReport({ id: again.id, format: 'json' })
    expect(b.content).toBe(a.content)
  })

  it('runs if: failure() cleanup after a failing step, and its JUnit report is ingestible', async () => {
    const text = `name: failing
steps:
  - id: bad
    uses: exec
    with: { cmd: 'echo broken >&2; exit 3' }
  - id: cleanup
    if: failure()
    uses: exec
    with: { cmd: [echo, cleaned] }
`
    const run = await api.runWorkflow({ workflow: text, sandboxId })
    expect(run.status).toBe('failed')
    expect(run.steps.map((s) => [s.id, s.status])).toEqual([
      ['bad', 'failed'],
      ['cleanup', 'passed'],
    ])
    expect(run.steps[1]!.output).toMatchObject({ stdout: 'cleaned\n' })
    const junit = await api.getWorkflowReport({ id: run.id, format: 'junit' })
    await api.createRun({ id: 'wf-run-1', commit: 'c0ffee', branch: 'main' })
    const ingested = await api.ingestJunit({ id: 'wf-run-1', body: junit.content, name: 'workflow.xml' } as never)
    expect(ingested).toMatchObject({ tests: 2, failures: 1 })
  })

  it('answers a YAML error with line and column, and runs nothing', async () => {
    const before = (await api.listWorkflowRuns({})).items.length
    await expect(api.runWorkflow({ workflow: 'name: x\nsteps:\n  - id: a\n    uses: exce\n', sandboxId })).rejects.toMatchObject({
      code: 'invalid_request',
      details: [{ path: 'workflow.steps[0].uses', line: 4, column: 11 }],
    })
    expect((await api.listWorkflowRuns({})).items.length).toBe(before)
  })

  it('runs a workflow through the MCP tool workflow_run and reads its Markdown report as a resource', async () => {
    const client = new McpClient({ name: 'tidepool-test', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${cp.adminToken!}` } } }))
    try {
      const r = (await client.callTool({ name: 'workflow_run', arguments: { workflow: example, inputs: { name: 'tidepool' }, sandboxId } })) as {
        isError?: boolean
        structuredContent?: { id: string; status: string }
      }
      expect(r.isError).toBeFalsy()
      expect(r.structuredContent!.status).toBe('passed')
      const md = await client.readResource({ uri: `tidepool://workflows/runs/${r.structuredContent!.id}/report.md` })
      expect((md.contents[0] as { text: string }).text).toContain('## ✅ Workflow `service-smoke` passed')
      const rep = (await client.callTool({ name: 'report_get', arguments: { id: r.structuredContent!.id, format: 'junit' } })) as { structuredContent?: { content: string } }
      expect(rep.structuredContent!.content).toContain('<testcase classname="service-smoke" name="hello"')
    } finally {
      await client.close()
    }
  })
})
