import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../runtime/fake.js'
import { testPlane, type TestPlane } from '../../testing/control-plane.js'
import type { CliCommand, CliIo } from '../command.js'
import { networkCommands } from './network.js'

let tp: TestPlane
let sbx: string

beforeAll(async () => {
  tp = await testPlane(new FakeRuntime(), { network: { proxy: { enabled: true }, allowedDomains: ['*.example.com'] } })
  const r = await tp.call('POST', '/v1/sandboxes', { body: { network: { allowedDomains: ['api.example.com'], deniedDomains: [] } } })
  sbx = ((await r.json()) as { id: string }).id
})
afterAll(async () => tp?.dispose())

async function run(words: string[], positionals: string[], values: Record<string, unknown>, jsonOut = false): Promise<{ code: number; out: string[] }> {
  const cmd = networkCommands.find((c) => c.words.join(' ') === words.join(' ')) as CliCommand
  const out: string[] = []
  const io: CliIo = { json: jsonOut, out: (t) => out.push(t), info: () => {}, print: (v, human) => out.push(jsonOut ? JSON.stringify(v) : human()) }
  const api = async () => createClient({ baseUrl: 'http://tidepool.test', token: tp.admin, fetch: (url, init) => Promise.resolve(tp.app.request(url, init)) })
  const code = await cmd.run({ values: values as never, positionals, api, io, cwd: '/' })
  return { code, out }
}

describe('tidepool network', () => {
  it('policy <id> shows the levels, and --allow/--deny replace the sandbox level', async () => {
    const shown = await run(['network', 'policy'], [sbx], {})
    expect(shown.out[0]).toContain('allowed:   api.example.com')
    expect(shown.out[0]).toContain('project: *.example.com; sandbox: api.example.com')
    const patched = await run(['network', 'policy'], [sbx], { allow: ['a.example.com', 'b.example.com'], deny: ['b.example.com'] }, true)
    expect(JSON.parse(patched.out[0]!)).toMatchObject({ policy: { allowedDomains: ['a.example.com', 'b.example.com'], deniedDomains: ['b.example.com'] } })
  })

  it('events prints a table (empty here: nothing went through the proxy)', async () => {
    const r = await run(['network', 'events'], [], { sandbox: sbx })
    expect(r).toEqual({ code: 0, out: ['(none)'] })
  })
})
