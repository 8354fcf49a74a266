import { parseArgs } from 'node:util'
import { createClient, type Client } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../runtime/fake.js'
import { testPlane, type TestPlane } from '../../testing/control-plane.js'
import { startReceiver, type Receiver } from '../../testing/loopback-receiver.js'
import type { CliCommand, CliIo } from '../command.js'
import { webhookCommands } from './webhook.js'

let tp: TestPlane
let rx: Receiver
let api: Client

async function run(words: string, args: string[]) {
  const command = webhookCommands.find((c) => c.words.join(' ') === words) as CliCommand
  const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = { json, out: (x) => void out.push(x), info: () => {}, print: (v, human) => void out.push(json ? JSON.stringify(v) : human()) }
  const code = await command.run({ values: values as never, positionals, api: async () => api, io, cwd: '/' })
  return { code, out: out.join('\n') }
}

describe('tidepool webhook', () => {
  beforeAll(async () => {
    tp = await testPlane(new FakeRuntime())
    rx = await startReceiver((n) => ({ status: n === 0 ? 500 : 200 }))
    api = createClient({
      baseUrl: 'http://127.0.0.1:7070',
      token: tp.admin,
      fetch: (url, init) => {
        const u = new URL(String(url))
        return Promise.resolve(tp.app.request(u.pathname + u.search, init as RequestInit))
      },
    })
  })
  afterAll(async () => {
    await tp?.dispose()
    await rx?.close()
  })

  it('add prints the secret once, ls lists, deliveries shows the log, rm is idempotent', async () => {
    const added = JSON.parse((await run('webhook add', [`${rx.url}/in`, '--event', 'triage.summary', '--json'])).out)
    expect(added).toMatchObject({ id: expect.stringMatching(/^whk_/), url: `${rx.url}/in`, events: ['triage.summary'], secret: expect.stringMatching(/^whsec_/) })
    expect((await run('webhook add', [rx.url, '--event', 'remediation.proposed'])).out).toContain('shown only once')
    const ls = JSON.parse((await run('webhook ls', ['--json', '--limit', '1'])).out)
    expect(ls.items).toHaveLength(1)
    expect(ls.items[0]).not.toHaveProperty('secret')
    expect(ls.nextToken).toBeDefined()
    expect((await run('webhook ls', ['--limit', '1'])).out).toContain('more: --next-token')

    await tp.svc.webhooks.publish({ project: 'default', event: 'triage.summary', data: { run: { id: 'r1' } } })
    await tp.svc.webhooks.settle()
    const failed = JSON.parse((await run('webhook deliveries', [added.id, '--json'])).out)
    expect(failed.items[0]).toMatchObject({ status: 'pending', attempts: 1, statusCode: 500, error: 'the receiver answered HTTP 500' })
    tp.clock.advance(60_000)
    await tp.svc.webhooks.drain()
    const human = (await run('webhook deliveries', [added.id])).out
    expect(human).toMatch(/triage\.summary\s+delivered\s+2\s+200/)
    expect(JSON.parse((await run('webhook deliveries', [added.id, '--status', 'failed', '--json'])).out).items).toEqual([])

    expect(JSON.parse((await run('webhook rm', [added.id, '--json'])).out)).toEqual({ removed: added.id })
    expect((await run('webhook rm', [added.id])).code).toBe(0)
    await expect(run('webhook deliveries', [added.id])).rejects.toThrow(/not found/)
    await expect(run('webhook add', ['ftp://example.com/'])).rejects.toThrow(/http/)
    await expect(run('webhook add', [rx.url, '--event', 'nope'])).rejects.toThrow(/events/)
  })
})
