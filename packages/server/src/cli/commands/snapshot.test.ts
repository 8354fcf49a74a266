import { parseArgs } from 'node:util'
import { createClient, type Client } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../runtime/fake.js'
import { testPlane, type TestPlane } from '../../testing/control-plane.js'
import type { CliCommand, CliIo } from '../command.js'
import { sandboxCommands } from './sandbox.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

/** The real client over the test plane's HTTP app (no port). */
const clientOf = (tp: TestPlane): Client => createClient({ baseUrl: 'http://tidepool.test', token: tp.admin, fetch: (url, init) => Promise.resolve(tp.app.request(String(url), init as RequestInit)) })

async function run(words: string, args: string[], api: Client) {
  const command = sandboxCommands.find((c) => c.words.join(' ') === words) as CliCommand
  const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = { json, out: (x) => void out.push(x), info: () => {}, print: (v, human) => void out.push(json ? JSON.stringify(v) : human()) }
  const code = await command.run({ values: values as never, positionals, api: async () => api, io, cwd: '/' })
  return { code, out: out.join('\n') }
}

describe('tidepool sandbox snapshot|fork|reset, snapshot list|get|delete, sandbox create --from-snapshot', () => {
  it('goes round the whole cycle, in text and --json', async () => {
    tp = await testPlane(new FakeRuntime())
    const api = clientOf(tp)
    const sbx = (await run('sandbox create', ['--cpu', '0.1'], api)).out
    const snap = await run('sandbox snapshot', [sbx, '--label', 'step=one', '--ttl', '1h'], api)
    expect(snap).toMatchObject({ code: 0, out: expect.stringMatching(/^snap_[a-z0-9]{16}$/) })
    const got = await run('snapshot get', [snap.out], api)
    expect(got.out).toContain(`sandbox:   ${sbx}`)
    expect(got.out).toContain('labels:    step=one')
    const listed = JSON.parse((await run('snapshot list', ['--sandbox', sbx, '--label', 'step=one', '--json'], api)).out)
    expect(listed.items.map((s: { id: string }) => s.id)).toEqual([snap.out])
    const child = (await run('sandbox create', ['--from-snapshot', snap.out, '--cpu', '0.1'], api)).out
    expect((await api.getSandbox({ id: child })).parentSnapshot).toBe(snap.out)
    const forks = JSON.parse((await run('sandbox fork', [sbx, '--count', '2', '--json'], api)).out)
    expect(forks.items).toHaveLength(2)
    expect((await run('sandbox reset', [child], api)).out).toBe(`${child} running (reset)`)
    expect((await run('sandbox reset', [sbx, '--to', snap.out, '--json'], api)).code).toBe(0)
    await expect(run('snapshot delete', [snap.out], api)).rejects.toMatchObject({ code: 'conflict' })
    await api.deleteSandbox({ id: child })
    expect((await run('snapshot delete', [snap.out, snap.out], api)).out).toBe(`deleted ${snap.out}\ndeleted ${snap.out}`)
  })
})
