import { parseArgs } from 'node:util'
import { createClient, type Client } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../runtime/fake.js'
import { testPlane, type TestPlane } from '../../testing/control-plane.js'
import type { CliCommand, CliIo } from '../command.js'
import { accessCommands } from './access.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

const clientOf = (tp: TestPlane, meta?: { runId: string; prompt: string }): Client =>
  createClient({
    baseUrl: 'http://127.0.0.1:7070',
    token: tp.admin,
    ...(meta ? { meta } : {}),
    fetch: (url, init) => Promise.resolve(tp.app.request(new URL(String(url)).pathname + new URL(String(url)).search, init as RequestInit)),
  })

async function run(words: string, args: string[], api: Client) {
  const command = accessCommands.find((c) => c.words.join(' ') === words) as CliCommand
  const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = { json, out: (x) => void out.push(x), info: () => {}, print: (v, human) => void out.push(json ? JSON.stringify(v) : human()) }
  const code = await command.run({ values: values as never, positionals, api: async () => api, io, cwd: '/' })
  return { code, out: out.join('\n') }
}

describe('tidepool audit graph / audit ls --run', () => {
  it("draws a run's graph, lists only its records, and says so when a run has none", async () => {
    tp = await testPlane(new FakeRuntime())
    const agent = clientOf(tp, { runId: 'run-cli-1', prompt: 'make the test pass' })
    const id = (await agent.createSandbox({})).id
    await clientOf(tp).createSandbox({}) // outside the run: must not appear
    const api = clientOf(tp)

    const drawn = await run('audit graph', ['run-cli-1'], api)
    expect(drawn.code).toBe(0)
    expect(drawn.out).toMatch(/^flowchart/)
    expect(drawn.out).toContain('make the test pass')
    const g = JSON.parse((await run('audit graph', ['run-cli-1', '--json'], api)).out)
    expect(g).toMatchObject({ run: 'run-cli-1', truncated: false })
    expect(g.nodes.map((n: { kind: string }) => n.kind)).toEqual(expect.arrayContaining(['prompt', 'action', 'result']))

    const listed = JSON.parse((await run('audit ls', ['--run', 'run-cli-1', '--json'], api)).out)
    expect(listed.items.map((r: { action: string; target: string }) => [r.action, r.target])).toEqual([['createSandbox', id]])

    expect((await run('audit graph', ['run-nothing'], api)).out).toBe('no audit records for run run-nothing')
    await expect(run('audit graph', [], api)).rejects.toThrow(/usage/)
  })
})
