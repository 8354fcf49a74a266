import { parseArgs } from 'node:util'
import { createClient, type Client } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../runtime/fake.js'
import { testPlane, type TestPlane } from '../../testing/control-plane.js'
import type { CliCommand, CliIo } from '../command.js'
import { sandboxCommands } from './sandbox.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

const clientOf = (tp: TestPlane): Client =>
  createClient({ baseUrl: 'http://127.0.0.1:7070', token: tp.admin, fetch: (url, init) => Promise.resolve(tp.app.request(new URL(String(url)).pathname, init as RequestInit)) })

async function run(args: string[], api: Client) {
  const command = sandboxCommands.find((c) => c.words.join(' ') === 'sandbox port') as CliCommand
  const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = { json, out: (x) => void out.push(x), info: () => {}, print: (v, human) => void out.push(json ? JSON.stringify(v) : human()) }
  const code = await command.run({ values: values as never, positionals, api: async () => api, io, cwd: '/' })
  return { code, out: out.join('\n') }
}

describe('tidepool sandbox port', () => {
  it('prints both URLs, toggles public exposure, and refuses a bad port or an unknown sandbox', async () => {
    tp = await testPlane(new FakeRuntime())
    const api = clientOf(tp)
    const id = (await api.createSandbox({})).id
    expect(await run([id, '3000'], api)).toEqual({ code: 0, out: `http://3000-${id}.sandbox.localhost:7070/\nhttp://127.0.0.1:7070/v1/sandboxes/${id}/ports/3000/` })
    const pub = JSON.parse((await run([id, '3000', '--public', '--json'], api)).out)
    expect(pub).toMatchObject({ sandboxId: id, port: 3000, host: `3000-${id}.sandbox.localhost:7070`, public: true })
    expect(await tp.svc.ports.publicProject(id, 3000)).toBe('default')
    expect((await run([id, '3000', '--private'], api)).out).toContain('private')
    expect(await tp.svc.ports.publicProject(id, 3000)).toBeUndefined()
    await expect(run([id, '0'], api)).rejects.toThrow(/1-65535/)
    await expect(run(['sbx_doesnotexist1', '3000'], api)).rejects.toThrow(/not found/)
  })
})
