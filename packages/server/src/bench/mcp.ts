/**
 * @module bench/mcp — an MCP tool call `exec true` round trip over stdio (`tidepool mcp`, a client of the
 * API) and over Streamable HTTP (/mcp), beside the plain API exec, interleaved in one run on one sandbox.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createClient } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { machine, metric, type BenchResult } from './result.js'

const samples = 200
const warmup = 20
const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url))

export async function run(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-mcp-'))
  const cgroupName = `tidepool-bench-mcp-${process.pid}`
  const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 512, pids: 256 } } })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  const clients: Client[] = []
  try {
    const { url } = await cp.listen()
    const token = cp.adminToken!
    const api = createClient({ baseUrl: url, token })
    const stdio = new Client({ name: 'bench', version: '1' })
    await stdio.connect(
      new StdioClientTransport({ command: process.execPath, args: [cliPath, 'mcp'], env: { TIDEPOOL_URL: url, TIDEPOOL_TOKEN: token, TIDEPOOL_HOME: home, PATH: '/usr/bin:/bin' }, stderr: 'ignore' }),
    )
    clients.push(stdio)
    const http = new Client({ name: 'bench', version: '1' })
    await http.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
    clients.push(http)
    const { id } = await api.createSandbox({})
    const viaApi = () => api.exec({ id, cmd: ['true'] })
    const viaTool = (c: Client) => async () => {
      const r = (await c.callTool({ name: 'exec', arguments: { id, cmd: ['true'] } })) as { isError?: boolean; content: { text?: string }[] }
      if (r.isError) throw new Error(`exec tool failed: ${r.content[0]?.text}`)
    }
    const kinds = { api: viaApi, stdio: viaTool(stdio), http: viaTool(http) }
    const times: Record<keyof typeof kinds, number[]> = { api: [], stdio: [], http: [] }
    for (let i = 0; i < warmup + samples; i++) {
      // Interleaved: each round times all three, so drift on a shared machine hits them alike.
      for (const k of Object.keys(kinds) as (keyof typeof kinds)[]) {
        const t = performance.now()
        await kinds[k]()
        if (i >= warmup) times[k].push(performance.now() - t)
      }
    }
    await api.deleteSandbox({ id })
    const apiP50 = metric('x', 'ms', times.api).p50
    return {
      name: 'mcp',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('exec `true` round trip via API', 'ms', times.api),
        metric('exec `true` as MCP tool call over stdio', 'ms', times.stdio, { target: `p50 <= 1.5x API (${Math.round(apiP50 * 1.5 * 1000) / 1000} ms)`, peer: { name: 'API exec', p50: apiP50 } }),
        metric('exec `true` as MCP tool call over Streamable HTTP', 'ms', times.http, {
          target: `p50 <= 1.5x API (${Math.round(apiP50 * 1.5 * 1000) / 1000} ms)`,
          peer: { name: 'API exec', p50: apiP50 },
        }),
      ],
    }
  } finally {
    for (const c of clients) await c.close().catch(() => {})
    await cp.close()
    // As bench/sandbox: the runtime's empty parent cgroups and its disk pool (inside the home) go too.
    const local = namespacesLevel(cp.svc.runtime)
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    rmSync(home, { recursive: true, force: true })
  }
}
