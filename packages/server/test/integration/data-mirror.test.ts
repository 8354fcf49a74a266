/**
 * Mirrors and clones against real PostgreSQL: a source with foreign keys, a 1:N chain, self-references and
 * PII; the mirror's schema equals the source's, its sample keeps every foreign key, no PII value reaches it,
 * clones are independent, reset restores exactly, the source is untouched, destroy leaves nothing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Clone, Mirror } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canBind } from '../../src/data/ports.js'
import { cloneClient, cloneQuery, dataSkip, hostLeftovers, normaliseSchema, pgDump, startTestPg, testData, type TestData, type TestPg, teardownData } from './support/data-pg.js'
import { createShop, fingerprint, piiValues, READER_PASSWORD } from './support/data-shop.js'

const CUSTOMERS = 400

describe.skipIf(Boolean(dataSkip))(`mirror and clones${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let t: TestData
  let before: Record<string, string>
  let mirror: Mirror
  const srcFingerprint = () => fingerprint((sql) => src.sql('shop', sql))

  beforeAll(async () => {
    src = await startTestPg('mirror')
    await createShop(src, CUSTOMERS)
    before = await srcFingerprint()
    t = await testData({ storage: { kind: 'auto', imageSizeMb: 2048 } })
    const source = await t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'shop') })
    mirror = await t.svc.createMirror(t.principal, {
      id: source.id,
      sample: { percent: 20, perTable: { employees: { maxRows: 5 } }, seed: 7 },
      masking: { defaults: true, rules: [{ column: 'orders.note', rule: 'hash' }] },
      wait: true,
    })
  })

  afterAll(async () => {
    await teardownData(t, src)
  })

  it('builds the mirror with a report: sampled rows, rows added for keys, masked columns', () => {
    expect(mirror.state).toBe('ready')
    const r = mirror.report!
    const byTable = Object.fromEntries(r.tables.map((x) => [x.table, x]))
    expect(byTable['public.customers']!.sourceRows).toBe(CUSTOMERS)
    expect(byTable['public.customers']!.sampled).toBeGreaterThan(0)
    // Orders reference customers outside the 20% sample, and referred_by chains reach further: closure adds rows.
    expect(byTable['public.customers']!.addedForKeys).toBeGreaterThan(0)
    // employees: 5 seeds, then the whole manager chain above each one.
    expect(byTable['public.employees']!.sampled).toBe(5)
    expect(byTable['public.employees']!.addedForKeys).toBeGreaterThan(0)
    expect(byTable['public.customers']!.masked.map((m) => `${m.column}:${m.rule}`).sort()).toEqual(['email:email', 'first_name:first_name', 'last_name:last_name', 'phone:phone'])
    expect(byTable['public.orders']!.masked).toEqual([{ column: 'note', rule: 'hash' }])
    expect(r.rows).toBe(r.tables.reduce((n, x) => n + x.rows, 0))
    expect(r.rowsPerSecond).toBeGreaterThan(0)
  })

  describe('with a clone', () => {
    let a: Clone
    beforeAll(async () => {
      a = await t.svc.createClone(t.principal, { mirror: mirror.name })
    })

    it('has the same schema as the source (pg_dump --schema-only)', () => {
      const args = ['--schema-only', '--no-owner', '--no-privileges']
      const source = pgDump(src.bins, { PGHOST: src.socketDir, PGPORT: String(src.port), PGUSER: 'tidepool', PGDATABASE: 'shop' }, args)
      const clone = pgDump(src.bins, { PGHOST: '127.0.0.1', PGPORT: String(a.port), PGUSER: a.user, PGPASSWORD: a.password, PGDATABASE: a.database }, args)
      expect(normaliseSchema(clone)).toEqual(normaliseSchema(source))
      expect(normaliseSchema(source)).toContain('CREATE TABLE public.order_items')
    })

    it('keeps every foreign key whole in the sample (chains and self-references)', async () => {
      const orphans = await cloneQuery<{ n: string }>(
        a,
        `SELECT (SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id))
              + (SELECT count(*) FROM order_items i WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id))
              + (SELECT count(*) FROM customers c WHERE c.referred_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers p WHERE p.id = c.referred_by))
              + (SELECT count(*) FROM employees e WHERE e.manager_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM employees m WHERE m.id = e.manager_id))
              + (SELECT count(*) FROM order_tags ot WHERE NOT EXISTS (SELECT 1 FROM tags g WHERE (g.ns, g.tag) = (ot.ns, ot.tag))) AS n`,
      )
      expect(Number(orphans[0]!.n)).toBe(0)
      // The constraints themselves exist and are valid (post-data restored after the rows).
      const fks = await cloneQuery<{ n: string }>(a, `SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' AND convalidated`)
      expect(Number(fks[0]!.n)).toBe(6)
      // A seeded employee pulled its whole manager chain, up to the root.
      const roots = await cloneQuery<{ n: string }>(a, 'SELECT count(*) AS n FROM employees WHERE manager_id IS NULL')
      expect(Number(roots[0]!.n)).toBe(1)
    })

    it('holds no original PII value: not in a full pg_dump, not in any file of the mirror', () => {
      const dump = pgDump(src.bins, { PGHOST: '127.0.0.1', PGPORT: String(a.port), PGUSER: a.user, PGPASSWORD: a.password, PGDATABASE: a.database }, [])
      expect(dump).toContain('COPY public.customers')
      const pii = piiValues(CUSTOMERS)
      const found = pii.filter((v) => dump.includes(v))
      expect(found).toEqual([])
      expect(dump).not.toContain('corp-mail.test')
      expect(dump).not.toContain('order note')
      // Bytes on disk too (heap, indexes, WAL) of the mirror's base.
      const base = join(t.poolRoot, 'mirrors', mirror.id)
      const hits: string[] = []
      const scan = (dir: string) => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          const p = join(dir, e.name)
          if (e.isDirectory()) scan(p)
          else if (e.isFile() && statSync(p).size > 0 && readFileSync(p).includes('corp-mail.test')) hits.push(p)
        }
      }
      scan(base)
      expect(hits).toEqual([])
    })

    it('masks deterministically: the same source value masks alike, and joins over it hold', async () => {
      const rows = await cloneQuery<{ email: string; first_name: string; phone: string }>(a, 'SELECT email, first_name, phone FROM customers ORDER BY id LIMIT 3')
      for (const r of rows) {
        expect(r.email).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.com$/)
        expect(r.phone).toMatch(/^\+1-555-\d{3}-\d{4}$/)
      }
    })

    it("keeps a clone's writes away from the mirror and from other clones; reset restores exactly", async () => {
      const sum = `SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) AS s, count(*) AS n FROM customers c`
      const [start] = await cloneQuery<{ s: string; n: string }>(a, sum)
      const ca = await cloneClient(a)
      await ca.query(`UPDATE customers SET first_name = 'changed'`)
      await ca.query(`INSERT INTO employees (id, name) VALUES (100000, 'new hire')`)
      await ca.query(`CREATE TABLE scratch (x int)`) // DDL works: the clone role owns the schema's objects
      await ca.end()
      const b = await t.svc.createClone(t.principal, { mirror: mirror.id })
      expect(b.port).not.toBe(a.port)
      const [inB] = await cloneQuery<{ s: string; n: string }>(b, sum)
      expect(inB).toEqual(start)
      const [changed] = await cloneQuery<{ s: string }>(a, sum)
      expect(changed!.s).not.toBe(start!.s)

      // Snapshot the changed state, change more, reset to the snapshot, then to the start.
      const snap = await t.svc.snapshotClone(t.principal, a.id, 'after-update')
      const cb = await cloneClient(a)
      await cb.query(`DELETE FROM order_items`)
      await cb.end()
      await t.svc.resetClone(t.principal, a.id, snap.id)
      const [atSnap] = await cloneQuery<{ s: string }>(a, sum)
      expect(atSnap!.s).toBe(changed!.s)
      expect((await cloneQuery<{ n: string }>(a, 'SELECT count(*) AS n FROM order_items'))[0]!.n).not.toBe('0')
      const reset = await t.svc.resetClone(t.principal, a.id, 'start')
      expect(reset.port).toBe(a.port) // same address and credentials after a reset
      const [again] = await cloneQuery<{ s: string; n: string }>(a, sum)
      expect(again).toEqual(start)
      expect(await cloneQuery(a, `SELECT to_regclass('scratch') AS r`)).toEqual([{ r: null }])
      // Twice in a row (the second uses the spare made after the first).
      await t.svc.settle()
      await t.svc.resetClone(t.principal, a.id, 'start')
      expect((await cloneQuery<{ s: string }>(a, sum))[0]!.s).toBe(start!.s)
      await t.svc.deleteClone(t.principal, b.id)
    })

    it("gives each clone its own credentials: another clone's password does not open it", async () => {
      const b = await t.svc.createClone(t.principal, { mirror: mirror.id })
      await expect(cloneClient({ ...a, user: b.user, password: b.password })).rejects.toThrow()
      await expect(cloneClient({ ...a, user: 'tidepool', password: '' })).rejects.toThrow()
      await t.svc.deleteClone(t.principal, b.id)
    })

    it('destroy leaves no process, port, data dir or socket dir behind (and is idempotent)', async () => {
      const c = await t.svc.createClone(t.principal, { mirror: mirror.id })
      await t.svc.snapshotClone(t.principal, c.id)
      await t.svc.deleteClone(t.principal, c.id)
      await t.svc.deleteClone(t.principal, c.id)
      expect(hostLeftovers(c.id)).toEqual([])
      expect(await canBind(c.port)).toBe(true)
      expect(() => statSync(join(t.poolRoot, 'clones', c.id))).toThrow()
      expect(() => statSync(c.socketDir)).toThrow()
      await expect(t.svc.getClone(t.principal, c.id)).rejects.toMatchObject({ code: 'not_found' })
    })
  })

  it('left the source untouched (row counts and checksums)', async () => {
    expect(await srcFingerprint()).toEqual(before)
  })
})
