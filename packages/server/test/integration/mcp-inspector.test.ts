/**
 * MCP Inspector's CLI mode (`@modelcontextprotocol/inspector-cli --cli`, pinned in the lock) against the
 * real server, over Streamable HTTP at /mcp and over stdio (`tidepool mcp`): what a user debugging their
 * setup runs. The Inspector is a separate MCP client implementation driving us from the command line, so
 * this checks our server against a second client, not only the SDK's own.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

const run = promisify(execFile)
const inspectorCli = join(dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/inspector-cli/package.json')), 'build', 'cli.js')
const cgroupName = `tidepool-it-inspector-${process.pid}`
let home: string
let cp: ControlPlane
let url: string
let admin: string

type Target = 'http' | 'stdio'

/** One Inspector CLI call; its stdout is the JSON result of the method. */
async function inspect(target: Target, args: string[]): Promise<Record<string, unknown>> {
  const via =
    target === 'http'
      ? [`${url}/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${admin}`]
      : // The stdio server's environment comes through -e: a minimal one, the URL, the token, a home.
        ['-e', `TIDEPOOL_URL=${url}`, '-e', `TIDEPOOL_TOKEN=${admin}`, '-e', `TIDEPOOL_HOME=${home}`, process.execPath, cliPath, 'mcp']
  // An explicit minimal environment: the Inspector starts `node` by name, so PATH holds this node's
  // directory. The cwd is its build directory: 1.0.3 looks for its package.json relative to the cwd.
  const { stdout } = await run(process.execPath, [inspectorCli, '--cli', ...via, ...args], {
    cwd: dirname(inspectorCli),
    env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: home },
    timeout: 60_000,
  })
  return JSON.parse(stdout) as Record<string, unknown>
}

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> }

describe.skipIf(skipReason)('MCP Inspector CLI against tidepool (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-inspector-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    admin = cp.adminToken!
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  describe.each(['http', 'stdio'] as const)('over %s', (target) => {
    it('lists the tools and the resource templates', async () => {
      const { tools } = (await inspect(target, ['--method', 'tools/list'])) as { tools: { name: string; annotations?: Record<string, unknown> }[] }
      const names = tools.map((t) => t.name)
      expect(names).toEqual(expect.arrayContaining(['create_sandbox', 'exec', 'delete_sandbox', 'action_assert_equals']))
      expect(tools.find((t) => t.name === 'list_sandboxes')!.annotations).toMatchObject({ readOnlyHint: true })
      const { resourceTemplates } = (await inspect(target, ['--method', 'resources/templates/list'])) as { resourceTemplates: { uriTemplate: string }[] }
      expect(resourceTemplates.map((r) => r.uriTemplate)).toContain('tidepool://sandboxes/{sandboxId}/events')
    })

    it('creates a sandbox, runs a command in it, deletes it; a bad argument is an isError result', async () => {
      const created = (await inspect(target, ['--method', 'tools/call', '--tool-name', 'create_sandbox', '--tool-arg', `metadata={"via":"inspector-${target}"}`])) as ToolResult
      expect(created.isError, created.content[0]?.text).toBeFalsy()
      const id = created.structuredContent!.id as string
      expect(id).toMatch(/^sbx_/)
      const ran = (await inspect(target, ['--method', 'tools/call', '--tool-name', 'exec', '--tool-arg', `id=${id}`, '--tool-arg', 'cmd=["sh","-c","echo inspected"]'])) as ToolResult
      expect(ran.isError, ran.content[0]?.text).toBeFalsy()
      expect(ran.structuredContent).toMatchObject({ exitCode: 0, stdout: 'inspected\n' })
      const bad = (await inspect(target, ['--method', 'tools/call', '--tool-name', 'exec', '--tool-arg', `id=${id}`, '--tool-arg', 'cmd=42'])) as ToolResult
      expect(bad.isError).toBe(true)
      expect(bad.content[0]?.text).toContain('invalid_request')
      const deleted = (await inspect(target, ['--method', 'tools/call', '--tool-name', 'delete_sandbox', '--tool-arg', `id=${id}`])) as ToolResult
      expect(deleted.isError, deleted.content[0]?.text).toBeFalsy()
      const events = (await inspect(target, ['--method', 'resources/read', '--uri', `tidepool://sandboxes/${id}/events`])) as { contents: { text: string }[] }
      const { items } = JSON.parse(events.contents[0]!.text) as { items: { kind: string; data: Record<string, unknown> }[] }
      expect(items.map((e) => [e.kind, e.data.to ?? e.data.exitCode])).toEqual([
        ['state_changed', 'running'],
        ['exec', 0],
        ['usage_final', undefined], // the cgroup figures kept as the sandbox ends (sandboxes/usage-figures.ts)
        ['state_changed', 'stopped'],
      ])
      expect(leftovers(cgroupName, [id])).toEqual([])
    })
  })
})
