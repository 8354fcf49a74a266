/**
 * Policy as code for real: the example policy (examples/policy/agent-run.cedar) loaded by a real server
 * on LocalRuntime, its answers seen through HTTP (the SDK client) and through the MCP SDK's own Client
 * over Streamable HTTP; a reload with a broken file keeps the old set; a broken file refuses the start.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ApiError, createClient, type Api } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const example = fileURLToPath(new URL('../../../../examples/policy/agent-run.cedar', import.meta.url))
const cgroupName = `tidepool-it-policy-${process.pid}`
let home: string
let policyFile: string
let cp: ControlPlane
let url: string
let admin: Api
let agent: Api
let agentToken: string
let own: string
let foreign: string
const opened: Client[] = []

const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  return err as ApiError
}

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> }

describe.skipIf(skipReason)('policy (example agent-run policy, real runtime, HTTP and MCP)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-policy-'))
    policyFile = join(home, 'agent-run.cedar')
    copyFileSync(example, policyFile)
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 }, policy: { files: [policyFile] } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    admin = createClient({ baseUrl: url, token: cp.adminToken! })
    agentToken = (await admin.createToken({ project: 'default', scopes: ['sandboxes:read', 'sandboxes:write'], name: 'agent-7 run=r1' })).token
    agent = createClient({ baseUrl: url, token: agentToken })
    own = (await admin.createSandbox({ metadata: { run: 'r1' } })).id
    foreign = (await admin.createSandbox({ metadata: { run: 'r2' } })).id
  })
  afterAll(async () => {
    for (const c of opened) await c.close().catch(() => {})
    if (cp) {
      for (const id of [own, foreign]) if (id) await admin.deleteSandbox({ id }).catch(() => {})
      await cp.close()
    }
    await destroyAll(join(home, 'runtime'), cgroupName)
    expect(leftovers(cgroupName, [own, foreign].filter(Boolean))).toEqual([])
    rmSync(home, { recursive: true, force: true })
  })

  it('is the set in force, by its policy ids', async () => {
    expect(await admin.getPolicy({})).toMatchObject({ files: [policyFile], policies: ['admin', 'scopes', 'agent-read-only', 'agent-exec-own-run', 'agent-exec-only-in-own-run'], version: 1 })
  })

  it('over HTTP: an agent token execs in its run’s sandbox only, and reads anywhere', async () => {
    expect(await agent.exec({ id: own, cmd: 'echo mine' })).toMatchObject({ exitCode: 0, stdout: 'mine\n' })
    const denied = await refusal(agent.exec({ id: foreign, cmd: 'echo theirs' }))
    expect(denied).toMatchObject({ code: 'policy_denied', status: 403, details: { policy: 'agent-exec-only-in-own-run' } })
    expect(denied.message).toContain(`exec on sandbox ${foreign} is forbidden by policy agent-exec-only-in-own-run`)
    // The exec action is the same rule; a read-only action and a read are not.
    expect((await agent.runAction({ name: 'exec', sandboxId: own, input: { cmd: ['true'] } })).ok).toBe(true)
    expect(await refusal(agent.runAction({ name: 'exec', sandboxId: foreign, input: { cmd: ['true'] } }))).toMatchObject({ details: { policy: 'agent-exec-only-in-own-run' } })
    expect((await agent.runAction({ name: 'assert.equals', input: { actual: 1, expected: 1 } })).ok).toBe(true)
    expect(await agent.getSandbox({ id: foreign })).toMatchObject({ id: foreign, metadata: { run: 'r2' } })
    // Nothing permits an agent's other writes, although its scopes would.
    const del = await refusal(agent.deleteSandbox({ id: foreign }))
    expect(del).toMatchObject({ code: 'policy_denied', details: { policy: null } })
    expect(del.message).toMatch(/no policy permits deleteSandbox on sandbox/)
    expect((await admin.getSandbox({ id: foreign })).state).toBe('running')
    // A token without a run label keeps its scopes.
    const ci = createClient({ baseUrl: url, token: (await admin.createToken({ project: 'default', scopes: ['sandboxes:read', 'sandboxes:write'], name: 'ci' })).token })
    expect(await ci.exec({ id: foreign, cmd: 'true' })).toMatchObject({ exitCode: 0 })
  })

  it('through the MCP client: the denied tool call is an error result with policy_denied naming the policy', async () => {
    const client = new Client({ name: 'tidepool-policy-test', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${agentToken}` } } }))
    opened.push(client)
    const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult
    const ok = await call('exec', { id: own, cmd: 'echo via-mcp' })
    expect(ok.isError, ok.content[0]?.text).toBeFalsy()
    expect(ok.structuredContent).toMatchObject({ exitCode: 0, stdout: 'via-mcp\n' })
    const denied = await call('exec', { id: foreign, cmd: 'echo no' })
    expect(denied.isError).toBe(true)
    expect(denied.content[0]!.text).toMatch(/^policy_denied: .*agent-exec-only-in-own-run/)
    expect(denied.structuredContent).toMatchObject({ error: { code: 'policy_denied', details: { policy: 'agent-exec-only-in-own-run' } } })
    const action = await call('action_exec', { sandboxId: foreign, cmd: ['true'] })
    expect(action.structuredContent).toMatchObject({ error: { code: 'policy_denied' } })
    expect((await call('get_sandbox', { id: foreign })).isError).toBeFalsy()
  })

  it('a reload with a broken file is refused naming file and line, and the old set stays in force', async () => {
    const good = readFileSync(policyFile, 'utf8')
    writeFileSync(policyFile, `${good}\n@id("broken")\npermit (principal, action, resource) when { principal.nosuch };\n`)
    const err = await refusal(admin.reloadPolicy({}))
    expect(err.code).toBe('invalid_request')
    expect(err.message).toMatch(new RegExp(`${policyFile}:\\d+:\\d+: .*nosuch`))
    expect((await refusal(agent.exec({ id: foreign, cmd: 'true' }))).details).toMatchObject({ policy: 'agent-exec-only-in-own-run' })
    expect((await admin.getPolicy({})).version).toBe(1)
    // A good reload takes effect at once (cached decisions included): here, agents lose exec altogether.
    writeFileSync(policyFile, `${good}\n@id("no-agent-exec")\nforbid (principal, action in Action::"exec", resource) when { principal.hasTag("run") };\n`)
    expect(await admin.reloadPolicy({})).toMatchObject({ version: 2, policies: expect.arrayContaining(['no-agent-exec']) })
    expect((await refusal(agent.exec({ id: own, cmd: 'true' }))).code).toBe('policy_denied')
    writeFileSync(policyFile, good)
    expect((await admin.reloadPolicy({})).version).toBe(3)
    expect((await agent.exec({ id: own, cmd: 'true' })).exitCode).toBe(0)
  })

  it('a workflow step is decided like the action called directly: its exec runs in the own run’s sandbox only', async () => {
    const good = readFileSync(policyFile, 'utf8')
    // Agents may start workflows here; what each step does is still the policy's to decide.
    writeFileSync(
      policyFile,
      `${good}\n@id("agent-workflows")\npermit (principal, action == Action::"runWorkflow", resource) when { principal.hasTag("run") && principal.scopes.containsAll(context.requiredScopes) };\n`,
    )
    await admin.reloadPolicy({})
    try {
      const workflow = 'name: probe\nsteps:\n  - id: touch\n    uses: exec\n    with: { cmd: [sh, -c, "echo ran > /tmp/probe; echo ran"] }\n'
      const mine = await agent.runWorkflow({ workflow, sandboxId: own })
      expect(mine.status).toBe('passed')
      expect(mine.steps[0]!.output).toMatchObject({ stdout: 'ran\n' })
      const theirs = await agent.runWorkflow({ workflow, sandboxId: foreign })
      expect(theirs.status).toBe('failed')
      expect(theirs.steps[0]).toMatchObject({ status: 'failed', error: { code: 'policy_denied', message: expect.stringContaining('agent-exec-only-in-own-run') } })
      // The step's command never ran in the foreign sandbox.
      expect((await admin.exec({ id: foreign, cmd: 'test -e /tmp/probe; echo $?' })).stdout).toBe('1\n')
    } finally {
      writeFileSync(policyFile, good)
      await admin.reloadPolicy({})
    }
  })

  it('a broken policy file refuses the start, naming file, line and column, before the store is made', async () => {
    const other = mkdtempSync(join(tmpdir(), 'tidepool-it-policy-bad-'))
    try {
      const bad = join(other, 'bad.cedar')
      writeFileSync(bad, '@id("x")\npermit (principal, action == Action::"nosuchop", resource);\n')
      const config = loadConfig({ env: {}, overrides: { home: other, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, policy: { files: [bad] } } })
      await expect(buildControlPlane(config, { logger: silentLogger, reaper: false })).rejects.toThrow(new RegExp(`${bad}:2:\\d+: .*nosuchop`))
      expect(existsSync(join(other, 'tidepool.db'))).toBe(false)
      expect(existsSync(join(other, 'admin.token'))).toBe(false)
    } finally {
      rmSync(other, { recursive: true, force: true })
    }
  })
})
