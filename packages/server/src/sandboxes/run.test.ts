import { parseArgs } from 'node:util'
import { createClient, isApiError, type Client } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { runCommand } from '../cli/commands/run.js'
import type { CliIo } from '../cli/command.js'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

const clientOf = (tp: TestPlane): Client =>
  createClient({ baseUrl: 'http://127.0.0.1:7070', token: tp.admin, fetch: (url, init) => Promise.resolve(tp.app.request(new URL(String(url)).pathname, init as RequestInit)) })

describe('one-shot runs (FakeRuntime)', () => {
  it('runs the command with its env and stdin in a sandbox that is stopped after, and audits it', async () => {
    const runtime = new FakeRuntime((r) => ({ stdout: `${r.cmd.join(' ')}|${r.env.FOO}|${r.env.__stdin}`, exitCode: 5 }))
    tp = await testPlane(runtime)
    const api = clientOf(tp)
    const r = await api.run({ cmd: ['echo', 'hi'], envs: { FOO: 'bar' }, stdin: 'in' })
    expect(r).toMatchObject({ exitCode: 5, stdout: 'echo hi|bar|in', sandboxId: expect.stringMatching(/^sbx_/) })
    await tp.svc.runs.flush()
    expect(await api.getSandbox({ id: r.sandboxId })).toMatchObject({ state: 'stopped', reason: 'run_finished' })
    expect(await runtime.list()).toEqual([])
    expect((await api.listAudit({ action: 'run' })).items[0]).toMatchObject({ target: r.sandboxId, outcome: 'ok' })
  })

  it('is refused by the project quota like a create, starting nothing', async () => {
    const runtime = new FakeRuntime()
    tp = await testPlane(runtime, { quotas: { default: { sandboxes: 1, memoryMb: 100_000, cpu: 100, pids: 100_000, diskMb: 100_000_000 }, projects: {} } })
    const api = clientOf(tp)
    const held = await api.createSandbox({})
    const err = await api.run({ cmd: ['true'] }).catch((e: unknown) => e)
    expect(isApiError(err, 'quota_exceeded')).toBe(true)
    expect(await runtime.list()).toEqual([held.id])
    await api.deleteSandbox({ id: held.id })
    expect((await api.run({ cmd: ['true'] })).exitCode).toBe(0)
  })

  it('streams NDJSON lines, the last one with the sandbox id', async () => {
    tp = await testPlane(new FakeRuntime())
    const lines: unknown[] = []
    const end = await clientOf(tp).stream('run', { cmd: ['echo', 'x'] }, { onLine: (l) => void lines.push(l) })
    expect(lines[0]).toEqual({ stream: 'stdout', data: 'echo x\n' })
    expect(end).toMatchObject({ exitCode: 0, sandboxId: expect.stringMatching(/^sbx_/) })
    await tp.svc.runs.flush()
  })

  it('tidepool run --json prints the result and returns the exit code', async () => {
    tp = await testPlane(new FakeRuntime(() => ({ stdout: 'out', exitCode: 3 })))
    const api = clientOf(tp)
    const { values, positionals } = parseArgs({ args: ['--json', '--template', 'default', '--env', 'A=1', '--', 'ls', '-l'], options: runCommand.options, allowPositionals: true, strict: true })
    const out: string[] = []
    const io: CliIo = { json: true, out: (x) => void out.push(x), info: () => {}, print: (v) => void out.push(JSON.stringify(v)) }
    const code = await runCommand.run({ values: values as never, positionals, api: async () => api, io, cwd: '/' })
    expect(code).toBe(3)
    expect(JSON.parse(out.join(''))).toMatchObject({ exitCode: 3, stdout: 'out' })
    await expect(runCommand.run({ values: {}, positionals: [], api: async () => api, io, cwd: '/' })).rejects.toThrow(/usage/)
    await tp.svc.runs.flush()
  })
})
