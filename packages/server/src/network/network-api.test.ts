/**
 * The network area through the HTTP API on a real control plane (FakeRuntime, :memory: store) with the
 * egress proxy on loopback: create with a policy, PATCH it, events paginated, stub calls, secrets.
 * The runtime's network part is not here, so the test attaches the sandbox at 127.0.0.1 itself, as
 * the runtime will with the sandbox's veth address.
 */
import { readFileSync, statSync } from 'node:fs'
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let upstream: Server
let port: number
const seen: IncomingHttpHeaders[] = []
let sbx: string
let project: string

beforeAll(async () => {
  upstream = createServer((req, res) => (seen.push(req.headers), req.resume(), res.end('upstream ok')))
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  port = (upstream.address() as { port: number }).port
  tp = await testPlane(new FakeRuntime(), {
    network: {
      proxy: { enabled: true },
      allowedDomains: ['*.test'],
      hosts: { 'a.test': '127.0.0.1', 'b.test': '127.0.0.1', 'api.test': '127.0.0.1' },
      stubs: [{ name: 'payments', domains: ['pay.test'], response: { status: 200, body: 'charged' } }],
      credentials: [{ domains: ['api.test'], headers: { 'x-api-key': { secret: 'upstream-key' } } }],
    },
  })
  project = ((await (await tp.call('GET', '/v1/me')).json()) as { project: string }).project
  const r = await tp.call('POST', '/v1/sandboxes', { body: { network: { allowedDomains: ['a.test', 'pay.test', 'api.test'], deniedDomains: [] } } })
  expect(r.status).toBe(201)
  sbx = ((await r.json()) as { id: string }).id
  await tp.svc.network.attach({ id: sbx, projectId: project }, '127.0.0.1', { allowedDomains: ['a.test', 'pay.test', 'api.test'], deniedDomains: [] })
})

afterAll(async () => {
  await tp?.dispose()
  await new Promise<void>((r) => upstream.close(() => r()))
})

function get(url: string, body?: string): Promise<{ status: number; body: string }> {
  const proxy = tp.svc.network.proxy!
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.httpPort, path: url, method: body ? 'POST' : 'GET', agent: false }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('network API', () => {
  it("forgetPrefix drops a crashed build sandbox's attachment and keeps the others", async () => {
    await tp.svc.network.attach({ id: 'tpb_crashed', projectId: project, templatePolicy: { allowedDomains: ['a.test'], deniedDomains: [] } }, '10.200.9.9')
    const before = tp.svc.network.stats().attached
    expect(await tp.svc.network.forgetPrefix('tpb_')).toBe(1)
    expect(tp.svc.network.stats().attached).toBe(before - 1)
    expect(await tp.svc.network.forgetPrefix('tpb_')).toBe(0)
    expect((await tp.svc.network.get(project, sbx)).sandboxId).toBe(sbx)
  })

  it('GET /v1/sandboxes/{id}/network shows the sandbox level and the effective combination', async () => {
    const r = await tp.call('GET', `/v1/sandboxes/${sbx}/network`)
    expect(r.status).toBe(200)
    expect(await r.json()).toMatchObject({
      sandboxId: sbx,
      attached: true,
      policy: { allowedDomains: ['a.test', 'pay.test', 'api.test'], deniedDomains: [] },
      effective: { allow: [{ level: 'project', patterns: ['*.test'] }, { level: 'sandbox' }], deny: [] },
    })
  })

  it('PATCH changes the policy for new connections', async () => {
    expect((await get(`http://b.test:${port}/`)).status).toBe(403) // not in the sandbox level
    const r = await tp.call('PATCH', `/v1/sandboxes/${sbx}/network`, { body: { allowedDomains: ['a.test', 'b.test', 'pay.test', 'api.test'] } })
    expect(r.status).toBe(200)
    expect((await get(`http://b.test:${port}/`)).status).toBe(200)
    await tp.call('PATCH', `/v1/sandboxes/${sbx}/network`, { body: { deniedDomains: ['b.test'] } })
    const denied = await get(`http://b.test:${port}/`)
    expect(denied.status).toBe(403)
    expect(denied.body).toContain('deniedDomains b.test (sandbox)')
  })

  it('lists events newest first, paginated, filtered by verdict; refusals reach the sandbox event stream', async () => {
    for (let i = 0; i < 3; i++) await get(`http://a.test:${port}/${i}`)
    const first = (await (await tp.call('GET', `/v1/network/events?sandboxId=${sbx}&limit=2`)).json()) as { items: { seq: number; host: string }[]; nextToken?: string }
    expect(first.items).toHaveLength(2)
    expect(first.nextToken).toBeTypeOf('string')
    const second = (await (await tp.call('GET', `/v1/network/events?sandboxId=${sbx}&limit=2&nextToken=${first.nextToken}`)).json()) as { items: { seq: number }[] }
    expect(second.items[0]!.seq).toBeLessThan(first.items[1]!.seq)
    const denied = (await (await tp.call('GET', '/v1/network/events?verdict=denied')).json()) as { items: { host: string; rule: string }[] }
    expect(denied.items.map((e) => e.host)).toContain('b.test')
    const stream = (await (await tp.call('GET', `/v1/sandboxes/${sbx}/events?limit=1000`)).json()) as { items: { kind: string }[] }
    expect(stream.items.map((e) => e.kind)).toContain('egress_denied')
    const stats = (await (await tp.call('GET', '/v1/network/stats')).json()) as { allowed: number; denied: number; attached: number }
    expect(stats.allowed).toBeGreaterThanOrEqual(4)
    expect(stats.attached).toBe(1)
  })

  it('GET /v1/network/stubs/{name}/calls returns what the stub was sent', async () => {
    expect(await get('http://pay.test/charge', '{"amount":42}')).toEqual({ status: 200, body: 'charged' })
    const calls = (await (await tp.call('GET', '/v1/network/stubs/payments/calls')).json()) as { items: { call: { method: string; path: string; body: string } }[] }
    expect(calls.items).toHaveLength(1)
    expect(calls.items[0]!.call).toMatchObject({ method: 'POST', path: '/charge', body: '{"amount":42}' })
    expect((await tp.call('GET', '/v1/network/stubs/nope/calls')).status).toBe(404)
  })

  it('secrets: created, listed without values, stored encrypted, brokered, deleted idempotently', async () => {
    const value = 'very-secret-token-value'
    const created = await tp.call('POST', '/v1/secrets', { body: { name: 'upstream-key', value } })
    expect(created.status).toBe(201)
    expect(JSON.stringify(await created.json())).not.toContain(value)
    const list = await (await tp.call('GET', '/v1/secrets')).text()
    expect(list).toContain('upstream-key')
    expect(list).not.toContain(value)
    const key = join(tp.home, 'network', 'secrets.key')
    expect(statSync(key).mode & 0o777).toBe(0o600)
    const rows = await tp.svc.store.db.withTables<{ network_secrets: { sealed: string } }>().selectFrom('network_secrets').select('sealed').execute()
    expect(rows).toHaveLength(1)
    expect(rows[0]!.sealed).not.toContain(value)
    expect(Buffer.from(rows[0]!.sealed, 'base64').toString('latin1')).not.toContain(value)
    expect(readFileSync(key).length).toBe(32)

    const r = await get(`http://api.test:${port}/me`)
    expect(r).toEqual({ status: 200, body: 'upstream ok' })
    expect(seen.at(-1)?.['x-api-key']).toBe(value)
    const events = await (await tp.call('GET', '/v1/network/events?host=api.test')).text()
    expect(events).not.toContain(value)

    expect((await tp.call('DELETE', '/v1/secrets/upstream-key')).status).toBe(204)
    expect((await tp.call('DELETE', '/v1/secrets/upstream-key')).status).toBe(204)
    const after = await get(`http://api.test:${port}/me`)
    expect(after.status).toBe(502)
    expect(after.body).toContain('credential secret upstream-key is not set')
  })

  it('a sandbox looping on a denied host cannot flood its event stream; the egress events keep every attempt', async () => {
    for (let i = 0; i < 70; i++) expect((await get(`http://b.test:${port}/${i}`)).status).toBe(403)
    const stream = (await (await tp.call('GET', `/v1/sandboxes/${sbx}/events?limit=1000`)).json()) as { items: { kind: string }[] }
    expect(stream.items.filter((e) => e.kind.startsWith('egress_')).length).toBe(60)
    const denied = (await (await tp.call('GET', `/v1/network/events?sandboxId=${sbx}&verdict=denied&host=b.test&limit=1000`)).json()) as { items: unknown[] }
    expect(denied.items.length).toBeGreaterThanOrEqual(70)
  })

  it('a destroyed sandbox is detached: its policy is gone', async () => {
    expect((await tp.call('DELETE', `/v1/sandboxes/${sbx}`)).status).toBe(204)
    await new Promise((r) => setTimeout(r, 20))
    expect((await tp.call('GET', `/v1/sandboxes/${sbx}/network`)).status).toBe(404)
    expect(tp.svc.network.proxy!.attachment(sbx)).toBeUndefined()
  })
})
