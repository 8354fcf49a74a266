/**
 * Faults against real PostgreSQL: bad source URL, unreachable source, wrong password, missing permissions,
 * rows hidden by row-level security, impossible masking rules, a full disk. Each gives a clear error and
 * leaves nothing half-made: no mirror record, no data dir, no server process, no socket dir.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { operations } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postmastersUnder } from '../../src/data/pg-server.js'
import { dataDb } from '../../src/data/tables.js'
import { dataSkip, startTestPg, testData, type TestData, type TestPg, teardownData } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'

const ls = (dir: string) => {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

describe.skipIf(Boolean(dataSkip))(`data faults${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let t: TestData
  const pool = () => t.poolRoot

  /** Nothing of a failed build remains: records, dirs, servers, sockets. */
  async function nothingHalfMade(): Promise<void> {
    expect(await dataDb(t.store.db).selectFrom('data_mirrors').selectAll().execute()).toEqual([])
    expect(ls(join(pool(), 'mirrors'))).toEqual([])
    expect(await postmastersUnder(pool())).toEqual([])
    expect(ls(t.socketRoot).filter((n) => n.startsWith('b-'))).toEqual([])
  }

  beforeAll(async () => {
    src = await startTestPg('faults')
    await createShop(src, 50)
    await src.sql('postgres', `CREATE ROLE noperm LOGIN PASSWORD 'np'`)
    await src.sql('shop', `GRANT USAGE ON SCHEMA public TO noperm; GRANT SELECT ON customers, orders TO noperm`)
    // Row-level security: the reader sees orders of customer 1..50 but customers only up to 10.
    await src.sql('postgres', `CREATE ROLE rls LOGIN PASSWORD 'rls'`)
    await src.sql(
      'shop',
      `GRANT USAGE ON SCHEMA public TO rls; GRANT SELECT ON ALL TABLES IN SCHEMA public TO rls;
      ALTER TABLE customers ENABLE ROW LEVEL SECURITY; CREATE POLICY few ON customers FOR SELECT TO rls USING (id <= 10);
      CREATE POLICY everyone ON customers FOR SELECT TO reader, shop USING (true);`,
    )
    t = await testData({ storage: { kind: 'reflink', imageSizeMb: 320 }, warmClones: 0 })
  })

  afterAll(async () => {
    await teardownData(t, src)
  })

  it('refuses malformed input at the contract, naming field and rule', () => {
    const r = operations.createClone.input.safeParse({ mirror: 'm', ttlSeconds: 5 })
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.message).toBe('ttlSeconds must be at least 60')
    expect(operations.createDataSource.input.safeParse({ url: 'mysql://x' }).success).toBe(false)
  })

  it('bad URL, unreachable host, wrong password, missing database: clear errors, nothing recorded', async () => {
    await expect(t.svc.addSource(t.principal, { url: 'postgresql://reader@127.0.0.1:5432' })).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/database name is missing/),
    })
    await expect(t.svc.addSource(t.principal, { url: `postgresql://reader:x@127.0.0.1:1/shop` })).rejects.toMatchObject({ code: 'runtime_unavailable', details: { reason: 'unreachable' } })
    await expect(t.svc.addSource(t.principal, { url: src.url('reader', 'wrong', 'shop') })).rejects.toMatchObject({
      code: 'invalid_request',
      details: { reason: 'auth' },
      message: expect.stringContaining('check the user and password'),
    })
    await expect(t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'nodb') })).rejects.toMatchObject({ code: 'invalid_request', details: { reason: 'database' } })
    expect(await dataDb(t.store.db).selectFrom('data_sources').selectAll().execute()).toEqual([])
  })

  it('missing permissions: names every table the role cannot read and how to grant it', async () => {
    const err = await t.svc.addSource(t.principal, { url: src.url('noperm', 'np', 'shop') }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_request', details: { reason: 'permission' } })
    expect((err as Error).message).toContain('lacks SELECT on table public.employees')
    expect((err as Error).message).toContain('GRANT SELECT ON ALL TABLES IN SCHEMA')
  })

  it('rows hidden by row-level security that others reference: refused, nothing half-made', async () => {
    const s = await t.svc.addSource(t.principal, { url: src.url('rls', 'rls', 'shop'), name: 'rls' })
    const err = await t.svc.createMirror(t.principal, { id: s.id, sample: { percent: 100, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, wait: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_request', details: { reason: 'permission', table: 'public.customers' } })
    expect((err as Error).message).toMatch(/no readable row with id = \d+ though other rows reference it/)
    await nothingHalfMade()
    await t.svc.deleteSource(t.principal, s.id)
  })

  it('masking rules that cannot work: refused before anything is built', async () => {
    const s = await t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'shop'), name: 'masking' })
    const err = await t.svc
      .createMirror(t.principal, {
        id: s.id,
        sample: { percent: 50, perTable: {}, seed: 1 },
        masking: {
          defaults: true,
          rules: [
            { column: 'orders.total', rule: 'email' },
            { column: 'customers.email', rule: 'null' },
          ],
        },
        wait: true,
      })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_request' })
    expect((err as Error).message).toContain('public.orders.total is numeric(10,2); rule email applies to text columns only')
    expect((err as Error).message).toContain('public.customers.email is NOT NULL')
    await nothingHalfMade()
    await t.svc.deleteSource(t.principal, s.id)
  })

  it('source down at mirror time: runtime_unavailable, nothing half-made, whether the caller waits or not', async () => {
    const other = await startTestPg('down')
    await other.sql('postgres', `CREATE ROLE r LOGIN PASSWORD 'r'`)
    const s = await t.svc.addSource(t.principal, { url: other.url('r', 'r', 'postgres'), name: 'down' })
    await other.stop()
    for (const wait of [true, false]) {
      await expect(t.svc.createMirror(t.principal, { id: s.id, sample: { percent: 10, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, wait })).rejects.toMatchObject({
        code: 'runtime_unavailable',
        details: { reason: 'unreachable' },
      })
      await nothingHalfMade()
    }
    await t.svc.deleteSource(t.principal, s.id)
  })

  it('disk full (a 320 MB pool image): quota_exceeded naming the pool, nothing half-made; clones too', async () => {
    const s = await t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'shop'), name: 'full' })
    const spec = { id: s.id, sample: { percent: 100, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, wait: true } as const
    const m = await t.svc.createMirror(t.principal, spec)
    expect(m.state).toBe('ready')
    // Fill the pool, then try again: the build cannot fit.
    execFileSync('fallocate', ['-l', `${Math.floor((await poolFree()) - 8 * 1_048_576)}`, join(pool(), 'filler')])
    const err = await t.svc.refreshMirror(t.principal, m.id, true).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'quota_exceeded', details: { scope: 'data:proj:storage' } })
    expect((err as Error).message).toMatch(/storage pool is full .* raise data\.storage\.imageSizeMb/)
    // The mirror keeps its last good base and says why the refresh failed.
    expect(await t.svc.getMirror(t.principal, m.id)).toMatchObject({ state: 'ready', error: { code: 'quota_exceeded' } })
    expect(ls(join(pool(), 'mirrors', m.id))).toEqual(['v1'])
    // A clone needs a little space too (metadata, its first writes): fill the rest.
    execFileSync('fallocate', ['-l', `${Math.max(4096, Math.floor((await poolFree()) - 4096))}`, join(pool(), 'filler2')])
    const cerr = await t.svc.createClone(t.principal, { mirror: m.id }, { warm: false }).catch((e: unknown) => e)
    if (cerr instanceof Error) {
      expect(cerr).toMatchObject({ code: 'quota_exceeded' })
      expect(ls(join(pool(), 'clones'))).toEqual([])
      expect(await dataDb(t.store.db).selectFrom('data_clones').selectAll().execute()).toEqual([])
    } else {
      // XFS keeps a reserve for metadata; if the clone fit, it must be whole and removable.
      await t.svc.deleteClone(t.principal, (cerr as { id: string }).id)
    }
    execFileSync('rm', ['-f', join(pool(), 'filler'), join(pool(), 'filler2')])
    await t.svc.deleteMirror(t.principal, m.id)
    await t.svc.deleteSource(t.principal, s.id)
    await nothingHalfMade()
  })

  async function poolFree(): Promise<number> {
    const out = execFileSync('df', ['-B1', '--output=avail', pool()], { encoding: 'utf8' })
    return Number(out.trim().split('\n').pop())
  }
})
