/**
 * Request-level routing for real: three services A → B → C on loopback, each carrying the incoming
 * W3C baggage onward with OpenTelemetry's W3CBaggagePropagator, reached only through the router's
 * routed URLs. Forks of B (and C in a route group) take the requests with their key, everything else
 * the baseline; bad keys fall back; a dead upstream is a 502 naming it, a silent one a 504; SSE and
 * WebSocket pass through a fork; a fork removed mid-stream neither hangs nor crashes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { type App, chainApp, clientFrame, get, localhostLookup, silentApp, streamApp } from './support/routing-apps.js'

describe('request routing through environments (real HTTP services on loopback)', () => {
  let home: string
  let cp: ControlPlane
  let api: ReturnType<typeof createClient>
  let other: ReturnType<typeof createClient>
  const apps: App[] = []
  const urls = new Map<string, string>() // routed URL by service
  let key: string

  const chain = async (headers: Record<string, string> = {}) => {
    const got = await get(`${urls.get('a')}/chain`, headers)
    expect(got.status, got.body).toBe(200)
    return { ...(JSON.parse(got.body) as { chain: string[]; servedBy: string[] }), first: got.headers['x-tidepool-served-by'] }
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-routing-'))
    const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', port: 0, router: { port: 0, responseTimeoutMs: 500 } } })
    cp = await buildControlPlane(config, { runtime: new FakeRuntime(), logger: silentLogger, reaper: false, router: true })
    const { url } = await cp.listen()
    api = createClient({ baseUrl: url, token: cp.adminToken! })
    const tok = await api.createToken({ project: 'other', scopes: ['sandboxes:read', 'sandboxes:write'] })
    other = createClient({ baseUrl: url, token: tok.token })
    const a = await chainApp('a', () => urls.get('b'))
    const b = await chainApp('b', () => urls.get('c'))
    const c = await chainApp('c', () => undefined)
    apps.push(a, b, c)
    const env = await api.createEnvironment({ name: 'shop', services: [a, b, c].map((s) => ({ name: s.name, upstream: s.url })) })
    for (const s of env.services) urls.set(s.name, s.url)
  })

  afterAll(async () => {
    await cp?.close()
    for (const a of apps) await a.close()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('gives each service a routed URL on the router and sends unkeyed requests to the baseline', async () => {
    expect(urls.get('b')).toMatch(/^http:\/\/b\.shop\.localhost:\d+$/)
    expect(await chain()).toEqual({ chain: ['a', 'b', 'c'], servedBy: ['b@baseline', 'c@baseline'], first: 'a@baseline' })
  })

  it('sends keyed requests to the fork of B, and on to the baseline C (the key rides in baggage across hops)', async () => {
    const bFork = await chainApp('b-fork', () => urls.get('c'))
    apps.push(bFork)
    const fork = await api.createFork({ env: 'shop', service: 'b', upstream: bFork.url })
    key = fork.routingKey
    expect(key).toMatch(/^[a-z][a-z0-9]{11}$/)
    expect(await chain({ baggage: `userId=alice,tidepool-route=${key}` })).toEqual({ chain: ['a', 'b-fork', 'c'], servedBy: [`b@${key}`, 'c@baseline'], first: 'a@baseline' })
    expect((await chain()).chain).toEqual(['a', 'b', 'c'])
    // x-tidepool-route and the preview host select the fork too (at the hop that sees them).
    expect(JSON.parse((await get(`${urls.get('b')}/chain`, { 'x-tidepool-route': key })).body).chain).toEqual(['b-fork', 'c'])
    const port = new URL(urls.get('b')!).port
    const preview = await get(`http://${key}--b.shop.preview.localhost:${port}/chain`)
    expect(preview.headers['x-tidepool-served-by']).toBe(`b@${key}`)
  })

  it('joins a fork of C to the same key: a route group', async () => {
    const cFork = await chainApp('c-fork', () => undefined)
    apps.push(cFork)
    const fork = await api.createFork({ env: 'shop', service: 'c', upstream: cFork.url, routingKey: key })
    expect(fork.routingKey).toBe(key)
    expect((await chain({ baggage: `tidepool-route=${key}` })).chain).toEqual(['a', 'b-fork', 'c-fork'])
    const env = await api.getEnvironment({ env: 'shop' })
    expect(env.forks.map((f) => [f.service, f.routingKey, f.health])).toEqual([
      ['b', key, 'up'],
      ['c', key, 'up'],
    ])
    await expect(api.createFork({ env: 'shop', service: 'c', upstream: cFork.url, routingKey: key })).rejects.toMatchObject({ code: 'conflict' })
    await expect(api.createFork({ env: 'shop', service: 'nope', upstream: cFork.url })).rejects.toMatchObject({ code: 'invalid_request' })
  })

  it('falls back to the baseline for an unknown key, oversized or malformed baggage', async () => {
    expect((await chain({ baggage: 'tidepool-route=nobody-has-this' })).chain).toEqual(['a', 'b', 'c'])
    // At the hop that sees them (an application's propagator may pass on a trimmed baggage: that is the next hop's to route).
    const servedBy = async (baggage: string) => (await get(`${urls.get('b')}/chain`, { baggage })).headers['x-tidepool-served-by']
    expect(await servedBy(`tidepool-route=${key}`)).toBe(`b@${key}`)
    expect(await servedBy(`tidepool-route=${key},${'x=1,'.repeat(2100)}y=2`)).toBe('b@baseline')
    expect(await servedBy(`tidepool-route=${key},${Array.from({ length: 64 }, (_, i) => `m${i}=1`).join(',')}`)).toBe('b@baseline')
    const direct = await get(`${urls.get('b')}/chain`, { baggage: `tidepool-route=${key},=broken` })
    expect(direct.headers['x-tidepool-served-by']).toBe('b@baseline')
    expect((await get(`${urls.get('b')}/chain`, { 'x-tidepool-route': 'NOT A KEY' })).headers['x-tidepool-served-by']).toBe('b@baseline')
  })

  it('answers 502 naming the upstream when it is down, 504 when it never answers, 404 for an unknown service', async () => {
    const dead = await silentApp()
    const deadUrl = dead.url
    await dead.close()
    const silent = await silentApp()
    apps.push(silent)
    const env = await api.createEnvironment({
      name: 'broken',
      services: [
        { name: 'down', upstream: deadUrl },
        { name: 'slow', upstream: silent.url },
      ],
    })
    const down = await get(`${env.services[0]!.url}/x`)
    expect(down.status).toBe(502)
    expect(down.headers['x-tidepool-served-by']).toBe('down@baseline')
    expect(JSON.parse(down.body).error).toMatchObject({ code: 'bad_gateway', message: expect.stringContaining(`upstream ${deadUrl} of down@baseline`) })
    const slow = await get(`${env.services[1]!.url}/x`)
    expect(slow.status).toBe(504)
    expect(JSON.parse(slow.body).error.message).toContain(`upstream ${silent.url} of slow@baseline`)
    const port = new URL(env.services[0]!.url).port
    expect((await get(`http://nope.broken.localhost:${port}/`)).status).toBe(404)
    const m = await api.getEnvironmentMetrics({ env: 'broken' })
    expect(m.routerRunning).toBe(true)
    expect(m.items.map((i) => [i.service, i.target, i.requests, i.errors])).toEqual([
      ['down', 'baseline', 1, 1],
      ['slow', 'baseline', 1, 1],
    ])
  })

  it('counts requests and fallbacks per route', async () => {
    const m = await api.getEnvironmentMetrics({ env: 'shop' })
    const a = m.items.find((i) => i.service === 'a' && i.target === 'baseline')!
    expect(a.fallbacks).toBeGreaterThan(0) // keyed requests for A, which has no fork
    expect(m.items.find((i) => i.service === 'b' && i.target === key)!.requests).toBeGreaterThan(0)
    expect(m.items.every((i) => i.errors === 0)).toBe(true)
  })

  it('streams SSE and relays a WebSocket through a fork; removing the fork mid-stream neither hangs nor crashes', async () => {
    const base = await streamApp('live')
    const fork = await streamApp('live-fork')
    apps.push(base, fork)
    const env = await api.createEnvironment({ name: 'stream', services: [{ name: 'live', upstream: base.url }] })
    const f = await api.createFork({ env: 'stream', service: 'live', upstream: fork.url })
    const routed = env.services[0]!.url

    // WebSocket: upgrade with the key in baggage, one frame each way.
    const ws = await new Promise<{ socket: Socket; servedBy: unknown }>((resolve, reject) => {
      const req = request(`${routed}/ws`, {
        lookup: localhostLookup,
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', baggage: `tidepool-route=${f.routingKey}` },
      })
      req.on('upgrade', (res, socket) => resolve({ socket, servedBy: res.headers['x-tidepool-served-by'] }))
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)))
      req.on('error', reject)
      req.end()
    })
    expect(ws.servedBy).toBe(`live@${f.routingKey}`)
    const echoed = new Promise<string>((r) => ws.socket.once('data', (d: Buffer) => r(d.subarray(2).toString())))
    ws.socket.write(clientFrame('hi'))
    expect(await echoed).toBe('live-fork:hi')
    ws.socket.destroy()

    // SSE: each event arrives as it is sent.
    const events: string[] = []
    let ended = false
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${routed}/sse`, { lookup: localhostLookup, headers: { 'x-tidepool-route': f.routingKey } }, resolve)
      req.on('error', reject)
      req.end()
    })
    expect(res.headers['x-tidepool-served-by']).toBe(`live@${f.routingKey}`)
    res.setEncoding('utf8')
    res.on('data', (c: string) => events.push(c))
    const closed = new Promise<void>((r) => res.once('close', () => ((ended = true), r())))
    res.on('error', () => {})
    await until(() => fork.clients() === 1 && events.join('').includes(': live-fork'))
    await fork.next()
    await until(() => events.join('').includes('data: live-fork 1'))

    // Remove the fork while the stream is open: new requests go to the baseline, the open one goes on.
    await api.deleteFork({ env: 'stream', id: f.id })
    await api.deleteFork({ env: 'stream', id: f.id }) // idempotent
    expect((await get(`${routed}/`, { 'x-tidepool-route': f.routingKey })).body).toBe('live')
    await fork.next()
    await until(() => events.join('').includes('data: live-fork 2'))
    // The fork's server goes away: the client sees its stream end.
    await fork.close()
    await closed
    expect(ended).toBe(true)
    expect((await get(`${routed}/`)).body).toBe('live') // the router is still serving
  })

  it('lists (paginated), scopes to the project, refuses a taken name, deletes idempotently', async () => {
    const p1 = await api.listEnvironments({ limit: 2 })
    expect(p1.items.map((e) => e.name)).toEqual(['broken', 'shop'])
    const p2 = await api.listEnvironments({ limit: 2, nextToken: p1.nextToken })
    expect(p2.items.map((e) => e.name)).toEqual(['stream'])
    expect(p2.nextToken).toBeUndefined()
    await expect(other.getEnvironment({ env: 'shop' })).rejects.toMatchObject({ code: 'not_found' })
    expect((await other.listEnvironments({})).items).toEqual([])
    await expect(other.createEnvironment({ name: 'shop', services: [{ name: 'a', upstream: 'http://127.0.0.1:1' }] })).rejects.toMatchObject({ code: 'conflict' })
    await other.deleteEnvironment({ env: 'shop' }) // another project's: nothing happens
    expect((await api.getEnvironment({ env: 'shop' })).name).toBe('shop')
    await expect(api.createEnvironment({ name: 'Bad--name', services: [{ name: 'a', upstream: 'ftp://x' }] })).rejects.toMatchObject({ code: 'invalid_request' })
    await api.deleteEnvironment({ env: 'stream' })
    await api.deleteEnvironment({ env: 'stream' })
    await expect(api.getEnvironment({ env: 'stream' })).rejects.toMatchObject({ code: 'not_found' })
    const port = new URL(urls.get('a')!).port
    expect((await get(`http://live.stream.localhost:${port}/`)).status).toBe(404) // the router dropped it at once
  })
})

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
  if (!cond()) throw new Error('condition never held')
}
