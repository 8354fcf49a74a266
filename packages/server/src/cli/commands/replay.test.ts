import { parseArgs } from 'node:util'
import { createClient, type Client, type ReplayReport } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../runtime/fake.js'
import { testPlane, type TestPlane } from '../../testing/control-plane.js'
import type { CliIo } from '../command.js'
import { replayCommand } from './replay.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

const clientOf = (tp: TestPlane, meta?: { runId: string; prompt: string }): Client =>
  createClient({
    baseUrl: 'http://127.0.0.1:7070',
    token: tp.admin,
    ...(meta ? { meta } : {}),
    fetch: (url, init) => Promise.resolve(tp.app.request(new URL(String(url)).pathname + new URL(String(url)).search, init as RequestInit)),
  })

async function run(args: string[], api: Client) {
  const { values, positionals } = parseArgs({ args, options: replayCommand.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = { json, out: (x) => void out.push(x), info: () => {}, print: (v, human) => void out.push(json ? JSON.stringify(v) : human()) }
  const code = await replayCommand.run({ values: values as never, positionals, api: async () => api, io, cwd: '/' })
  return { code, out: out.join('\n') }
}

describe('tidepool replay', () => {
  it('prints a step table, exits 0 when every step is the same and 1 when one differs', async () => {
    let n = 0
    // The fake answers `roll` differently every time, anything else with its argv.
    tp = await testPlane(new FakeRuntime((r) => ({ stdout: r.cmd[0] === 'roll' ? `${++n}\n` : `${r.cmd.join(' ')}\n` })))
    const agent = clientOf(tp, { runId: 'run-r1', prompt: 'do it' })
    const id = (await agent.createSandbox({})).id
    await agent.exec({ id, cmd: ['echo', 'hi'] })
    const api = clientOf(tp)

    const same = await run(['run-r1'], api)
    expect(same.code).toBe(0)
    expect(same.out).toMatch(/^\s+SEQ\s+ACTION/)
    expect(same.out).toMatch(/✓\s+\d+\s+createSandbox/)
    expect(same.out).toMatch(/✓ 2 same, 0 differ/)
    expect(same.out).toMatch(/: destroyed/)

    await agent.exec({ id, cmd: ['roll'] })
    const differs = await run(['run-r1'], api)
    expect(differs.code).toBe(1)
    expect(differs.out).toMatch(/✗\s+\d+\s+exec/)
    expect(differs.out).toContain('recorded: {')
    const report = JSON.parse((await run(['run-r1', '--json', '--keep'], api)).out) as ReplayReport
    expect(report.steps.map((s) => s.status)).toEqual(['same', 'same', 'differs'])
    expect(report.sandboxes[0]!.destroyed).toBe(false)
    expect((await api.listSandboxes({})).items.map((s) => s.id).sort()).toEqual([id, report.sandboxes[0]!.fresh].sort())
    await expect(run([], api)).rejects.toThrow(/usage/)
  })

  it('stands a fresh sandbox in for one the run used but did not create, and leaves other sandboxes alone', async () => {
    tp = await testPlane(new FakeRuntime())
    const api = clientOf(tp)
    const existing = (await api.createSandbox({ metadata: { who: 'before' } })).id
    const other = (await api.createSandbox({})).id
    const agent = clientOf(tp, { runId: 'run-r2', prompt: 'use it' })
    await agent.exec({ id: existing, cmd: ['echo', 'hi'] })
    await agent.exec({ id: other, cmd: ['echo', 'there'] })
    const report = JSON.parse((await run(['run-r2', '--json'], api)).out) as ReplayReport
    expect(report.steps.map((s) => s.status)).toEqual(['same', 'skipped'])
    expect(report.steps[1]!.reason).toMatch(/did not create/)
    expect(report.sandboxes).toEqual([{ original: existing, fresh: expect.stringMatching(/^sbx_/), destroyed: true }])
    const replayed = (await api.listAudit({ run: report.replayRun })).items
    expect(replayed.map((r) => [r.action, r.call?.parameters?.replayOf])).toEqual([
      ['createSandbox', 'setup'],
      ['exec', expect.stringMatching(/^req_/)],
    ])
    // Only the two sandboxes made outside the replay are left.
    expect((await api.listSandboxes({})).items.map((s) => s.id).sort()).toEqual([existing, other].sort())
  })

  it('replays a streamed exec as a stream and compares its last line (exit code and byte counts)', async () => {
    let n = 0
    tp = await testPlane(new FakeRuntime((r) => (r.cmd[0] === 'flip' ? { stdout: 'x\n', exitCode: n++ % 2 } : { stdout: 'ok\n' })))
    const meta = { 'x-tidepool-meta': JSON.stringify({ runId: 'run-r3', prompt: 'stream it' }) }
    const created = await tp.call('POST', '/v1/sandboxes', { body: {}, headers: meta })
    const id = ((await created.json()) as { id: string }).id
    const streamed = await tp.call('POST', `/v1/sandboxes/${id}/exec`, { body: { cmd: ['flip'] }, headers: { ...meta, accept: 'application/x-ndjson' } })
    expect(streamed.headers.get('content-type')).toBe('application/x-ndjson')
    expect(await streamed.text()).toContain('"exitCode":0')
    const report = JSON.parse((await run(['run-r3', '--json'], clientOf(tp))).out) as ReplayReport
    expect(report.steps.map((s) => [s.action, s.status])).toEqual([
      ['createSandbox', 'same'],
      ['exec', 'differs'],
      ['exec:result', 'skipped'],
    ])
    expect(report.steps[1]!.recorded?.preview).toMatchObject({ exitCode: 0 })
    expect(report.steps[1]!.replayed?.preview).toMatchObject({ exitCode: 1 })
    // The replayed stream's end was recorded in the replay run, as the original's was.
    expect((await clientOf(tp).listAudit({ run: report.replayRun })).items.map((r) => r.action)).toEqual(['createSandbox', 'exec', 'exec:result'])
  })
})
