/**
 * Forks in sandboxes, for real: LocalRuntime sandboxes with a node server bound to 127.0.0.1 inside,
 * reached by the router through the runtime's connection into the sandbox. A launched fork gets
 * TIDEPOOL_ROUTING_KEY in its env and ends with its sandbox either way (fork deleted → sandbox gone;
 * sandbox deleted → fork gone, its key back on the baseline); a fork in an existing sandbox gets the
 * key for commands started after it. The hops land in env trace, forks and fallbacks in the events,
 * the fork's cgroup figures in env cost. Nothing is left on the host.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'
import { type App, chainApp, get } from './support/routing-apps.js'

/** A service for inside a sandbox: answers its name, the routing key of its env, and the path. */
const keyServerJs = (name: string, port: number) => `
require('node:http').createServer((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ name: ${JSON.stringify(name)}, key: process.env.TIDEPOOL_ROUTING_KEY || null, url: req.url }))
}).listen(${port}, '127.0.0.1')
`

describe.skipIf(skipReason)('forks in sandboxes (real runtime, router through connectPort)', () => {
  const cgroupName = `tidepool-it-routing-${process.pid}`
  let home: string
  let cp: ControlPlane
  let api: ReturnType<typeof createClient>
  let base: App
  let bUrl: string
  const ids: string[] = []

  /** GET through the router until the fork answers (its server starts in the background). */
  async function untilServedBy(url: string, headers: Record<string, string>, servedBy: string) {
    for (let i = 0; i < 300; i++) {
      const r = await get(url, headers)
      if (r.status === 200 && r.headers['x-tidepool-served-by'] === servedBy) return r
      await sleep(50)
    }
    throw new Error(`${url} never served by ${servedBy}`)
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-routing-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', router: { port: 0 }, runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 256, pids: 128 } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false, router: true })
    api = createClient({ baseUrl: (await cp.listen()).url, token: cp.adminToken! })
    base = await chainApp('b', () => undefined)
    const env = await api.createEnvironment({ name: 'sbx', services: [{ name: 'b', upstream: base.url, resources: { cpu: 1, memoryMb: 512 } }] })
    bUrl = env.services[0]!.url
  }, 120_000)

  afterAll(async () => {
    await cp?.close()
    await base?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('launches a fork in its own sandbox with TIDEPOOL_ROUTING_KEY, routes its key there, and traces each hop', async () => {
    const fork = await api.createFork({
      env: 'sbx',
      service: 'b',
      port: 9100,
      launch: { cmd: ['node', '-e', keyServerJs('b-fork', 9100)] },
    })
    expect(fork).toMatchObject({ sandbox: expect.stringMatching(/^sbx_/), port: 9100, ownsSandbox: true, upstream: `sandbox:${fork.sandbox}:9100` })
    ids.push(fork.sandbox!)
    expect((await api.getSandbox({ id: fork.sandbox! })).envKeys).toContain('TIDEPOOL_ROUTING_KEY')
    const got = await untilServedBy(`${bUrl}/hello?x=1`, { 'x-tidepool-route': fork.routingKey }, `b@${fork.routingKey}`)
    expect(JSON.parse(got.body)).toEqual({ name: 'b-fork', key: fork.routingKey, url: '/hello?x=1' })
    expect((await get(`${bUrl}/chain`)).headers['x-tidepool-served-by']).toBe('b@baseline')
    expect((await api.listForks({ env: 'sbx' })).items[0]).toMatchObject({ id: fork.id, health: 'up' })

    // One request with a traceparent: its hop is in the trace, with the version that served it.
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    await get(`${bUrl}/t`, { 'x-tidepool-route': fork.routingKey, traceparent: `00-${traceId}-00f067aa0ba902b7-01` })
    const trace = await api.getEnvironmentTrace({ env: 'sbx', traceId })
    expect(trace.items).toEqual([{ traceId, key: fork.routingKey, hops: [expect.objectContaining({ service: 'b', target: fork.routingKey, key: fork.routingKey, status: 200, fallback: false })] }])
    expect((await api.getEnvironmentTrace({ env: 'sbx', key: fork.routingKey })).items.length).toBeGreaterThan(1)

    // The fork's cgroup is measured: one fork costs what its sandbox uses, not the baseline's declared 512 MiB.
    const cost = await api.getEnvironmentCost({ env: 'sbx' })
    expect(cost.fullCopy).toEqual({ cpu: 1, memoryMb: 512 })
    expect(cost.perFork.memoryMb).toBeGreaterThan(0)
    expect(cost.perFork.memoryMb).toBeLessThan(256)
    expect(cost.concurrent.forks).toBeGreaterThan(cost.concurrent.fullCopies)

    // Deleting the fork destroys its sandbox; the key goes to the baseline again.
    await api.deleteFork({ env: 'sbx', id: fork.id })
    expect((await api.getSandbox({ id: fork.sandbox! })).state).toBe('stopped')
    expect((await get(`${bUrl}/x`, { 'x-tidepool-route': fork.routingKey })).headers['x-tidepool-served-by']).toBe('b@baseline')
    const events = (await api.listEnvironmentEvents({ env: 'sbx' })).items
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(['fork_added', 'fork_removed', 'route_fallback']))
    expect(events.find((e) => e.kind === 'fork_removed')!.data).toMatchObject({ fork: fork.id, reason: 'deleted' })
  }, 120_000)

  it('forks into an existing sandbox (the key reaches commands started after the fork); the fork ends when the sandbox does', async () => {
    const sbx = await api.createSandbox({})
    ids.push(sbx.id)
    const fork = await api.createFork({ env: 'sbx', service: 'b', sandbox: sbx.id, port: 9200, routingKey: 'mine' })
    expect(fork).toMatchObject({ sandbox: sbx.id, ownsSandbox: false })
    await api.exec({ id: sbx.id, cmd: ['node', '-e', keyServerJs('b-own', 9200)], background: true })
    const got = await untilServedBy(`${bUrl}/`, { baggage: 'tidepool-route=mine' }, 'b@mine')
    expect(JSON.parse(got.body)).toMatchObject({ name: 'b-own', key: 'mine' })
    await api.deleteSandbox({ id: sbx.id })
    for (let i = 0; i < 100 && (await api.listForks({ env: 'sbx' })).items.length > 0; i++) await sleep(50)
    expect((await api.listForks({ env: 'sbx' })).items).toEqual([])
    expect((await get(`${bUrl}/`, { baggage: 'tidepool-route=mine' })).headers['x-tidepool-served-by']).toBe('b@baseline')
    const removed = (await api.listEnvironmentEvents({ env: 'sbx' })).items.filter((e) => e.kind === 'fork_removed').map((e) => e.data.reason)
    expect(removed).toContain('sandbox_ended')
  }, 120_000)

  it('refuses a fork naming no upstream or two, and a foreign or missing sandbox, changing nothing', async () => {
    await expect(api.createFork({ env: 'sbx', service: 'b' } as never)).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(api.createFork({ env: 'sbx', service: 'b', upstream: base.url, sandbox: 'sbx_nosuch000', port: 1 } as never)).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(api.createFork({ env: 'sbx', service: 'b', sandbox: 'sbx_nosuch000' } as never)).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(api.createFork({ env: 'sbx', service: 'b', sandbox: 'sbx_nosuch000', port: 80 })).rejects.toMatchObject({ code: 'not_found' })
    expect((await api.listForks({ env: 'sbx' })).items).toEqual([])
  })

  it('leaves nothing of the fork sandboxes on the host', async () => {
    for (const id of ids) expect(['stopped']).toContain((await api.getSandbox({ id })).state)
    expect(leftovers(cgroupName, ids)).toEqual([])
  })
})
