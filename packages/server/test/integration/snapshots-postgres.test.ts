/** Snapshots on a PostgreSQL store (fake runtime; the store's queries are what is under test): migration 0600, retention's queries, reconcile. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { testPlane, type TestPlane } from '../../src/testing/control-plane.js'
import { dataSkip, startTestPg, storeDatabase, type TestPg } from './support/data-pg.js'

describe.skipIf(Boolean(dataSkip))(`snapshots on PostgreSQL${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let pg: TestPg
  let tp: TestPlane
  const runtime = new FakeRuntime()
  const json = async (r: Response) => (await r.json()) as Record<string, any>
  const post = async (path: string, body: unknown = {}) => json(await tp.call('POST', path, { body }))

  beforeAll(async () => {
    pg = await startTestPg('snapshots')
    tp = await testPlane(runtime, { storeUrl: await storeDatabase(pg, 'snapshots'), snapshots: { maxPerSandbox: 2 } })
  })
  afterAll(async () => {
    await tp?.dispose()
    await pg?.stop()
  })

  it('snapshot, list, fork, retention (TTL, count, unused fork points) and reconcile', async () => {
    expect(tp.svc.store.dialect).toBe('postgres')
    const sbx = await post('/v1/sandboxes', { resources: { cpu: 0.1 } })
    const short = await post(`/v1/sandboxes/${sbx.id}/snapshots`, { ttlMs: 1_000, labels: { k: 'v' } })
    expect(short).toMatchObject({ sandboxId: sbx.id, sizeBytes: 0, labels: { k: 'v' } })
    expect((await json(await tp.call('GET', `/v1/snapshots?labels.k=v&sandboxId=${sbx.id}`))).items.map((s: any) => s.id)).toEqual([short.id])
    const fork = await post(`/v1/sandboxes/${sbx.id}/fork`, { count: 2 })
    expect(fork.items).toHaveLength(2)
    tp.clock.advance(2_000)
    await tp.svc.sandboxes.reapExpired()
    expect(new Set(runtime.snapshotRefs.keys())).toEqual(new Set([fork.snapshotId]))
    for (const f of fork.items) await tp.call('DELETE', `/v1/sandboxes/${f.id}`)
    await tp.svc.sandboxes.reapExpired()
    expect(runtime.snapshotRefs.size).toBe(0)
    for (let i = 0; i < 3; i++) {
      tp.clock.advance(1)
      await post(`/v1/sandboxes/${sbx.id}/snapshots`)
    }
    expect(runtime.snapshotRefs.size).toBe(2)
    runtime.snapshotRefs.set('snap_orphan0000000001', { id: 'snap_orphan0000000001', layer: '/nonexistent', bytes: 1, exclusiveBytes: 1 })
    await tp.svc.sandboxes.reconcile()
    expect(runtime.snapshotRefs.has('snap_orphan0000000001')).toBe(false)
    expect((await json(await tp.call('GET', '/v1/snapshots'))).items).toHaveLength(2)
  })
})
