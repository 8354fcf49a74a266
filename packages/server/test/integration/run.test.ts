/**
 * One-shot runs for real (LocalRuntime, HTTP on loopback, the SDK and the built CLI): output and exit
 * code come back, limits and timeouts hold, the run is audited, and nothing of its sandbox is left.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createClient, isApiError, Sandbox, type Client } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliRunner } from './support/cli.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-run-${process.pid}`
const poolProject = 'pooled'
let home: string
let cp: ControlPlane
let url: string
let api: Client
let pooledToken: string

describe.skipIf(skipReason)('one-shot runs (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-run-'))
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        runtime: { kind: 'local', cgroupName },
        defaults: { cpu: 1, memoryMb: 256, pids: 128 },
        quotas: { default: { sandboxes: 20, memoryMb: 100_000, cpu: 100, pids: 100_000, diskMb: 100_000_000 }, projects: {} },
        warmPools: [{ project: poolProject, template: 'default', replicas: 1 }],
      },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    api = createClient({ baseUrl: url, token: cp.adminToken! })
    pooledToken = (await api.createToken({ project: poolProject, scopes: ['sandboxes:write', 'sandboxes:read'], name: 'pooled' })).token
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  const conn = () => ({ baseUrl: url, token: cp.adminToken! })
  const sandboxDir = (id: string) => join(home, 'runtime', 'sandboxes', id)
  // What is left of these sandboxes (a warm pool's ready sandbox is another's, and stays).
  const leftOf = (...ids: string[]) => leftovers(cgroupName, ids).filter((l) => ids.some((id) => l.includes(id)))

  it('returns output and exit code, and leaves no process, cgroup, mount or folder behind', async () => {
    const r = await Sandbox.run(['sh', '-c', 'echo out; echo err >&2; exit 3'], conn())
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false, oomKilled: false, truncated: false })
    expect(r.sandboxId).toMatch(/^sbx_/)
    await cp.svc.runs.flush()
    expect(await api.getSandbox({ id: r.sandboxId })).toMatchObject({ state: 'stopped', reason: 'run_finished' })
    expect(leftOf(r.sandboxId)).toEqual([])
    expect(existsSync(sandboxDir(r.sandboxId))).toBe(false)
    expect((await api.listSandboxes({})).items.map((s) => s.id)).not.toContain(r.sandboxId)
  })

  it("takes the runtime's one-shot path without a pool (no exec round trip), create + exec with one", async () => {
    const runtime = cp.svc.runtime
    const runOnce = vi.spyOn(runtime, 'runOnce' as never)
    const exec = vi.spyOn(runtime, 'exec')
    try {
      const r = await Sandbox.run(['echo', 'fast'], conn())
      expect(r).toMatchObject({ exitCode: 0, stdout: 'fast\n' })
      expect([runOnce.mock.calls.length, exec.mock.calls.length]).toEqual([1, 0])
      await cp.svc.sandboxes.pools.settled()
      const pooled = await Sandbox.run(['echo', 'pooled'], { client: createClient({ baseUrl: url, token: pooledToken }) })
      expect(pooled.stdout).toBe('pooled\n')
      expect([runOnce.mock.calls.length, exec.mock.calls.length]).toEqual([1, 1])
      await cp.svc.runs.flush()
      await cp.svc.sandboxes.pools.settled()
      expect(leftOf(r.sandboxId, pooled.sandboxId)).toEqual([])
    } finally {
      runOnce.mockRestore()
      exec.mockRestore()
    }
  })

  it('a streamed run whose client goes away ends its command and leaves nothing', async () => {
    const finished = async () => (await api.listSandboxes({ state: 'stopped', limit: 1000 })).items.filter((s) => s.reason === 'run_finished').map((s) => s.id)
    const before = new Set(await finished())
    const ac = new AbortController()
    const res = await fetch(`${url}/v1/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.adminToken!}`, 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ cmd: 'echo started; sleep 60' }),
      signal: ac.signal,
    })
    const reader = res.body!.getReader()
    let text = ''
    while (!text.includes('started')) text += new TextDecoder().decode((await reader.read()).value)
    ac.abort()
    await expect.poll(async () => (await finished()).filter((id) => !before.has(id)).length, { timeout: 10_000 }).toBe(1)
    const id = (await finished()).find((i) => !before.has(i))!
    await cp.svc.runs.flush()
    expect(leftOf(id)).toEqual([])
  })

  it('runs isolated, with the sandbox user, env, cwd and stdin it was given', async () => {
    const r = await Sandbox.run('echo "$FOO"; pwd; id -u; hostname; cat', { ...conn(), envs: { FOO: 'bar' }, cwd: '/tmp', stdin: 'from stdin' })
    expect(r.exitCode).toBe(0)
    const [foo, cwd, uid, hostname, rest] = r.stdout.split('\n')
    expect([foo, cwd, uid]).toEqual(['bar', '/tmp', '1000'])
    expect(hostname).toBe(r.sandboxId)
    expect(rest).toBe('from stdin')
  })

  it('kills the command at its timeout and still cleans up', async () => {
    const r = await Sandbox.run(['sleep', '30'], { ...conn(), timeoutMs: 300 })
    expect(r.timedOut).toBe(true)
    expect(r.exitCode).not.toBe(0)
    await cp.svc.runs.flush()
    expect(leftOf(r.sandboxId)).toEqual([])
  })

  it('applies the limits asked for', async () => {
    // tail keeps the whole (newline-free) last line in memory: 100 MiB against a 32 MiB limit.
    const r = await Sandbox.run('head -c 100M /dev/zero | tail -n 1 | wc -c', { ...conn(), resources: { memoryMb: 32 } })
    expect(r.oomKilled).toBe(true)
    const fine = await Sandbox.run('head -c 100M /dev/zero | tail -n 1 | wc -c', conn())
    expect(fine).toMatchObject({ exitCode: 0, oomKilled: false, stdout: '104857600\n' })
  })

  it('streams output as NDJSON to the callbacks', async () => {
    const chunks: string[] = []
    const r = await Sandbox.run('echo one; sleep 0.1; echo two', { ...conn(), onStdout: (d) => void chunks.push(d) })
    expect(chunks.join('')).toBe('one\ntwo\n')
    expect(r).toMatchObject({ exitCode: 0, stdout: 'one\ntwo\n' })
    expect(r.sandboxId).toMatch(/^sbx_/)
    await cp.svc.runs.flush()
    expect(leftOf(r.sandboxId)).toEqual([])
  })

  it('is audited under the sandbox it made, and the sandbox has its events', async () => {
    const r = await Sandbox.run(['true'], conn())
    const records = (await api.listAudit({ action: 'run' })).items
    const mine = records.find((a) => a.target === r.sandboxId)
    expect(mine).toMatchObject({ action: 'run', outcome: 'ok' })
    await cp.svc.runs.flush()
    const kinds = (await api.listSandboxEvents({ id: r.sandboxId })).items.map((e) => [e.kind, (e.data as { to?: string }).to])
    expect(kinds).toContainEqual(['state_changed', 'running'])
    expect(kinds).toContainEqual(['state_changed', 'stopped'])
  })

  it('claims a warm-pool sandbox where the project has one for the template', async () => {
    await cp.svc.sandboxes.pools.settled()
    const pooled = createClient({ baseUrl: url, token: pooledToken })
    const before = (await pooled.listWarmPools({})).items[0]!.hits
    const r = await Sandbox.run(['echo', 'pooled'], { client: pooled })
    expect(r.stdout).toBe('pooled\n')
    expect((await pooled.listWarmPools({})).items[0]!.hits).toBe(before + 1)
    await cp.svc.runs.flush()
    await cp.svc.sandboxes.pools.settled()
    expect(leftOf(r.sandboxId)).toEqual([])
  })

  it('refuses bad input with a coded error and starts nothing', async () => {
    const count = async () => (await api.listSandboxes({ state: 'stopped', limit: 1000 })).items.length
    const n = await count()
    for (const bad of [
      { cmd: [] },
      { cmd: ['true'], timeoutMs: 0 },
      { cmd: ['true'], template: 'no-such-template' },
      { cmd: ['true'], cwd: 'relative' },
      { cmd: ['true'], resources: { memoryMb: 1 } },
    ]) {
      const err = await api.run(bad as never).catch((e: unknown) => e)
      expect(isApiError(err, 'invalid_request'), JSON.stringify(bad)).toBe(true)
    }
    await cp.svc.runs.flush()
    expect(await count()).toBe(n)
  })

  it('tidepool run prints the output and exits with the command’s exit code', async () => {
    const cli = cliRunner({ PATH: process.env.PATH, TIDEPOOL_URL: url, TIDEPOOL_TOKEN: cp.adminToken!, TIDEPOOL_HOME: home })
    const plain = await cli('run', '--env', 'X=1', '--', 'sh', '-c', 'echo "hi $X"; echo oops >&2; exit 4')
    expect(plain).toMatchObject({ status: 4, stdout: 'hi 1\n', stderr: 'oops\n' })
    const json = await cli('run', '--json', '--timeout', '5s', '--', 'echo', 'j')
    expect(json.status).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ exitCode: 0, stdout: 'j\n', sandboxId: expect.stringMatching(/^sbx_/) })
    await cp.svc.runs.flush()
    expect(leftOf((JSON.parse(json.stdout) as { sandboxId: string }).sandboxId)).toEqual([])
  })

  it('is the MCP tool run_command', async () => {
    const mcp = new McpClient({ name: 'tidepool-test', version: '1' })
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${cp.adminToken!}` } } }))
    try {
      const r = (await mcp.callTool({ name: 'run_command', arguments: { cmd: 'echo mcp; exit 2' } })) as { isError?: boolean; structuredContent?: Record<string, unknown> }
      expect(r.structuredContent).toMatchObject({ exitCode: 2, stdout: 'mcp\n', sandboxId: expect.stringMatching(/^sbx_/) })
      await cp.svc.runs.flush()
      expect(leftOf(r.structuredContent!.sandboxId as string)).toEqual([])
    } finally {
      await mcp.close()
    }
  })
})
