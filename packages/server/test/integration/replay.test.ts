/**
 * Replay of an agent run, for real: a three-step run made through the SDK (CallMeta in x-tidepool-meta)
 * against LocalRuntime sandboxes, replayed against a fresh sandbox (every step the same), then a run whose
 * command reads /dev/urandom replayed (that step differs), a run whose file upload and secret env cannot be
 * replayed, a token that may not exec, and the CLI. After each replay the fresh sandbox is gone.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type CallMeta, type ReplayReport } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

describe.skipIf(skipReason)('replay of an agent run', () => {
  const cgroupName = `tidepool-it-replay-${process.pid}`
  let home: string
  let cp: ControlPlane
  let url: string
  let admin: string
  const model = { model: 'claude-test', modelVersion: '2026-12', parameters: { temperature: 0 } }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-replay-'))
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

  /** An agent run: each call its own prompt, parented to the call before it. */
  function agentRun(runId: string) {
    const api = createClient({ baseUrl: url, token: admin })
    let parentId: string | undefined
    return {
      api,
      meta(prompt: string) {
        const meta: CallMeta = { runId, prompt, ...model, ...(parentId !== undefined ? { parentId } : {}) }
        return { meta, onRequestId: (id: string) => (parentId = id) }
      },
    }
  }
  const reader = () => createClient({ baseUrl: url, token: admin })
  const liveIds = async () => (await reader().listSandboxes({})).items.map((s) => s.id)

  it('a decision graph of a three-step agent run and its replay: against a fresh sandbox, every step the same', async () => {
    const run = `run-same-${process.pid}`
    const a = agentRun(run)
    const sbx = await a.api.createSandbox({ metadata: { job: 'replay' } }, a.meta('Set up a workspace'))
    await a.api.exec({ id: sbx.id, cmd: ['sh', '-c', 'printf "hello replay\\n" > /tmp/note.txt'] }, a.meta('Write the note'))
    const cat = await a.api.exec({ id: sbx.id, cmd: ['cat', '/tmp/note.txt'] }, a.meta('Read it back'))
    expect(cat.stdout).toBe('hello replay\n')
    const before = await liveIds()

    const report = await reader().replayRun({ run })
    expect(report.steps.map((s) => [s.action, s.status])).toEqual([
      ['createSandbox', 'same'],
      ['exec', 'same'],
      ['exec', 'same'],
    ])
    expect(report.ok).toBe(true)
    expect(report.summary).toMatchObject({ same: 3, differs: 0, failed: 0 })
    // The fresh sandbox stood in for the original, and is gone; the original is untouched.
    expect(report.sandboxes).toEqual([{ original: sbx.id, fresh: expect.stringMatching(/^sbx_/), destroyed: true }])
    const fresh = report.sandboxes[0]!.fresh
    expect(fresh).not.toBe(sbx.id)
    expect(await liveIds()).toEqual(before)
    expect(leftovers(cgroupName, [fresh]).filter((l) => l.includes(fresh))).toEqual([])
    expect((await a.api.exec({ id: sbx.id, cmd: ['cat', '/tmp/note.txt'] })).stdout).toBe('hello replay\n')

    // The replay is a run of its own: its calls acted on the fresh sandbox, each naming the call it replays.
    const replayed = (await reader().listAudit({ run: report.replayRun })).items
    expect(replayed.map((r) => [r.action, r.target])).toEqual([
      ['createSandbox', fresh],
      ['exec', fresh],
      ['exec', fresh],
    ])
    const originals = (await reader().listAudit({ run })).items
    expect(replayed.map((r) => r.call?.parameters?.replayOf)).toEqual(originals.map((r) => r.requestId))
    expect(replayed.map((r) => r.call?.prompt)).toEqual(['Set up a workspace', 'Write the note', 'Read it back'])
    // Parents map to the replayed parents, so the replay's graph has the same shape.
    expect(replayed[1]!.call?.parentId).toBe(replayed[0]!.requestId)
    const g = await reader().auditGraph({ run: report.replayRun })
    expect(g.edges.filter((e) => e.kind === 'led_to')).toHaveLength(2)
    await a.api.deleteSandbox({ id: sbx.id })
  }, 120_000)

  it('shows where a run depending on randomness differs, and what cannot be replayed', async () => {
    const run = `run-differs-${process.pid}`
    const a = agentRun(run)
    const sbx = await a.api.createSandbox({}, a.meta('Set up'))
    await a.api.exec({ id: sbx.id, cmd: ['sh', '-c', 'head -c8 /dev/urandom | od -An -tx1'] }, a.meta('Roll the dice'))
    await a.api.writeFile({ id: sbx.id, path: '/tmp/upload.bin', content: new TextEncoder().encode('bytes') }, a.meta('Upload'))
    await a.api.exec({ id: sbx.id, cmd: ['sh', '-c', 'echo "$KEY"'], envs: { KEY: 'secret-value' } }, a.meta('Use the key'))
    await a.api.exec({ id: sbx.id, cmd: ['echo', 'steady'] }, a.meta('Say something steady'))
    const before = await liveIds()

    const report = await reader().replayRun({ run })
    expect(report.steps.map((s) => [s.action, s.status])).toEqual([
      ['createSandbox', 'same'],
      ['exec', 'differs'],
      ['writeFile', 'not_replayable'],
      ['exec', 'not_replayable'],
      ['exec', 'same'],
    ])
    expect(report.ok).toBe(false)
    const dice = report.steps[1]!
    expect(dice.recorded?.preview).toMatchObject({ exitCode: 0 })
    expect((dice.recorded?.preview as { stdout: string }).stdout).not.toBe((dice.replayed?.preview as { stdout: string }).stdout)
    expect(report.steps[2]!.reason).toMatch(/length of content/)
    expect(report.steps[3]!.reason).toMatch(/secret/)
    // The secret never reached the report or the replay run.
    expect(JSON.stringify(report)).not.toContain('secret-value')
    expect(await liveIds()).toEqual(before)
    const fresh = report.sandboxes[0]!.fresh
    expect(leftovers(cgroupName, [fresh]).filter((l) => l.includes(fresh))).toEqual([])

    // --keep leaves the fresh sandbox for a look; a given create input replaces the recorded one.
    const kept = await reader().replayRun({ run, keep: true, create: { metadata: { replay: 'kept' } } })
    const keptId = kept.sandboxes[0]!.fresh
    expect(kept.sandboxes[0]!.destroyed).toBe(false)
    expect((await reader().getSandbox({ id: keptId })).metadata).toEqual({ replay: 'kept' })
    await reader().deleteSandbox({ id: keptId })
    await a.api.deleteSandbox({ id: sbx.id })
  }, 120_000)

  it('lets a token do no more than it could directly, and refuses an unknown run', async () => {
    const run = `run-scope-${process.pid}`
    const a = agentRun(run)
    const sbx = await a.api.createSandbox({}, a.meta('Set up'))
    await a.api.exec({ id: sbx.id, cmd: ['true'] }, a.meta('Run'))
    const auditor = createClient({ baseUrl: url, token: (await reader().createToken({ project: 'default', scopes: ['audit:read'] })).token })
    const before = await liveIds()
    const report = await auditor.replayRun({ run })
    expect(report.steps.map((s) => s.status)).toEqual(['failed', 'skipped'])
    expect(report.steps[0]!.reason).toMatch(/^policy_denied/)
    expect(report.steps[1]!.reason).toMatch(/did not recreate/)
    expect(await liveIds()).toEqual(before)
    const noAudit = createClient({ baseUrl: url, token: (await reader().createToken({ project: 'default', scopes: ['sandboxes:write'] })).token })
    await expect(noAudit.replayRun({ run })).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(reader().replayRun({ run: 'no-such-run' })).rejects.toMatchObject({ code: 'not_found' })
    await a.api.deleteSandbox({ id: sbx.id })
  }, 120_000)

  it('tidepool replay <run> prints a table of steps and exits 1 when a step differs', async () => {
    const run = `run-cli-${process.pid}`
    const a = agentRun(run)
    const sbx = await a.api.createSandbox({}, a.meta('Set up'))
    await a.api.exec({ id: sbx.id, cmd: ['echo', 'hi'] }, a.meta('Greet'))
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TIDEPOOL_HOME: home, TIDEPOOL_URL: url, TIDEPOOL_TOKEN: admin }
    // Not spawnSync: the server answering the CLI runs in this process.
    const cli = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        child.on('error', reject)
        child.on('close', (status) => resolve({ status, stdout, stderr }))
      })
    const ok = await cli(['replay', run])
    expect(ok.stderr).toBe('')
    expect(ok.status).toBe(0)
    expect(ok.stdout).toMatch(/✓ .*createSandbox/)
    expect(ok.stdout).toMatch(/2 same/)
    await a.api.exec({ id: sbx.id, cmd: ['sh', '-c', 'head -c8 /dev/urandom | od -An -tx1'] }, a.meta('Roll'))
    const bad = await cli(['replay', run, '--json'])
    expect(bad.status).toBe(1)
    const report = JSON.parse(bad.stdout) as ReplayReport
    expect(report.steps.map((s) => s.status)).toEqual(['same', 'same', 'differs'])
    await a.api.deleteSandbox({ id: sbx.id })
  }, 120_000)
})
