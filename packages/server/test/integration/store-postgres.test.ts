/**
 * The same control plane on PostgreSQL instead of SQLite: migrations, sandboxes, pagination, quotas,
 * audit chain and verify, events — through the HTTP API (fake runtime; the store is what is under test).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { testPlane, type TestPlane } from '../../src/testing/control-plane.js'
import { dataSkip, startTestPg, storeDatabase, type TestPg } from './support/data-pg.js'

describe.skipIf(Boolean(dataSkip))(`store on PostgreSQL${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let pg: TestPg
  let tp: TestPlane
  const json = async (r: Response) => (await r.json()) as Record<string, any>

  beforeAll(async () => {
    pg = await startTestPg('store')
    tp = await testPlane(new FakeRuntime(), {
      storeUrl: await storeDatabase(pg, 'store'),
      quotas: { default: { sandboxes: 3, memoryMb: 100_000, cpu: 100 }, projects: {} },
    })
  })
  afterAll(async () => {
    await tp?.dispose()
    await pg?.stop()
  })

  it('runs the sandbox lifecycle, pagination, quotas and the audit chain on PostgreSQL', async () => {
    expect(tp.svc.store.dialect).toBe('postgres')
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await tp.call('POST', '/v1/sandboxes', { body: { metadata: { i: String(i) }, timeoutMs: 1000 + i * 100_000 } })
      expect(r.status).toBe(201)
      ids.push((await json(r)).id)
    }
    expect((await tp.call('POST', '/v1/sandboxes', { body: {} })).status).toBe(429)
    const p1 = await json(await tp.call('GET', '/v1/sandboxes?limit=2'))
    const p2 = await json(await tp.call('GET', `/v1/sandboxes?limit=2&nextToken=${p1.nextToken}`))
    expect([...p1.items, ...p2.items].map((s: { id: string }) => s.id).sort()).toEqual([...ids].sort())
    expect((await json(await tp.call('GET', `/v1/sandboxes/${ids[1]}`))).timeoutMs).toBe(101_000)
    await tp.call('POST', `/v1/sandboxes/${ids[1]}/pause`)
    await tp.call('POST', `/v1/sandboxes/${ids[1]}/resume`)
    tp.clock.advance(5000)
    expect(await tp.svc.sandboxes.reapExpired()).toBe(1)
    expect(await json(await tp.call('GET', `/v1/sandboxes/${ids[0]}`))).toMatchObject({ state: 'stopped', reason: 'timeout' })
    const events = await json(await tp.call('GET', `/v1/sandboxes/${ids[1]}/events`))
    expect(events.items.map((e: { data: { reason: string } }) => e.data.reason)).toEqual(['created', 'paused_by_user', 'resumed_by_user'])
    const verify = await json(await tp.call('POST', '/v1/audit/verify'))
    expect(verify).toMatchObject({ ok: true })
    expect(verify.records).toBeGreaterThanOrEqual(6)
    await pg.sql('tidepool_store', "update audit set actor = 'someone else' where seq = 2")
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).ok).toBe(false)
    // Retention: the expired sandbox goes with its events once its stop is older than 168 hours.
    tp.clock.advance(169 * 3_600_000)
    expect(await tp.svc.sandboxes.pruneStopped()).toBe(1)
    expect((await tp.call('GET', `/v1/sandboxes/${ids[0]}`)).status).toBe(404)
    expect((await json(await tp.call('GET', `/v1/sandboxes/${ids[1]}/events`))).items).toHaveLength(3)
  })
})
