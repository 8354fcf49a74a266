import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from './client.js'
import { Sandbox } from './sandbox.js'
import { sandboxInfo } from './sandbox.fixture.js'
import { Snapshot } from './snapshot.js'

const SBX = 'sbx_k3j9x2m1q8w7'
const SNAP = 'snap_a1b2c3d4e5f6g7h8'
const snapshot = { id: SNAP, sandboxId: SBX, template: 'default', sizeBytes: 10, exclusiveBytes: 4, labels: { step: 'one' }, createdBy: 'tok_1', createdAt: '2026-01-01T00:00:00Z' }
const seen: { method: string; url: string; body: unknown }[] = []
let server: Server
let baseUrl: string

/** A real HTTP server answering the snapshot routes as the API does. */
beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c: Buffer) => (raw += c))
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: raw ? JSON.parse(raw) : undefined })
      const send = (status: number, body?: unknown) => {
        res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
        res.end(body === undefined ? undefined : JSON.stringify(body))
      }
      const route = `${req.method} ${req.url!.split('?')[0]}`
      if (route === `POST /v1/sandboxes/${SBX}/snapshots`) return send(201, snapshot)
      if (route === `POST /v1/sandboxes/${SBX}/fork`) return send(201, { items: [sandboxInfo('sbx_fork000001'), sandboxInfo('sbx_fork000002')], snapshotId: SNAP })
      if (route === `POST /v1/sandboxes/${SBX}/reset`) return send(200, sandboxInfo(SBX, { reason: 'reset' }))
      if (route === 'GET /v1/snapshots') return send(200, { items: [snapshot] })
      if (route === `GET /v1/snapshots/${SNAP}`) return send(200, snapshot)
      if (route === `DELETE /v1/snapshots/${SNAP}`) return send(204)
      send(404, { error: { code: 'not_found', message: `no route ${route}` } })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

describe('snapshots in the SDK', () => {
  it('sbx.createSnapshot, sbx.fork, sbx.reset, Snapshot.list/get/delete call their operations', async () => {
    const client = createClient({ baseUrl, token: 't' })
    const sbx = new Sandbox(client, sandboxInfo(SBX) as never)
    expect(await sbx.createSnapshot({ labels: { step: 'one' }, ttlMs: 60_000 })).toEqual(snapshot)
    expect(seen.at(-1)).toEqual({ method: 'POST', url: `/v1/sandboxes/${SBX}/snapshots`, body: { labels: { step: 'one' }, ttlMs: 60_000 } })
    const forks = await sbx.fork({ count: 2 })
    expect(forks.map((f) => f.sandboxId)).toEqual(['sbx_fork000001', 'sbx_fork000002'])
    expect(forks[0]).toBeInstanceOf(Sandbox)
    expect(seen.at(-1)!.body).toEqual({ count: 2 })
    await sbx.reset({ to: SNAP })
    expect(sbx.info.reason).toBe('reset')
    expect(seen.at(-1)!.body).toEqual({ to: SNAP })
    const conn = { apiUrl: baseUrl, apiKey: 't' }
    expect((await Snapshot.list({ ...conn, query: { sandboxId: SBX, labels: { step: 'one' } } })).items).toEqual([snapshot])
    expect(seen.at(-1)!.url).toBe(`/v1/snapshots?sandboxId=${SBX}&labels.step=one`)
    expect(await Snapshot.get(SNAP, conn)).toEqual(snapshot)
    expect(await Snapshot.delete(SNAP, conn)).toBe(true)
    expect(await Snapshot.delete('snap_zzzzzzzzzzzzzzzz', conn)).toBe(false)
  })
})
