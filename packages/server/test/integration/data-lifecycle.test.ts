/**
 * Lifecycle of mirrors and clones against real PostgreSQL: TTL and quotas, restart adoption (not
 * duplication), orphan reaping, the template fallback, the cold path, sandbox binding, refresh (on demand
 * and scheduled), asynchronous builds, deletion. Everything a test starts is gone after it.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Mirror } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SandboxBinder, SandboxBinding } from '../../src/data/binder.js'
import { postmastersUnder, serverPid, startServer, resolveRunAs } from '../../src/data/pg-server.js'
import { findPgBinaries } from '../../src/data/pg-binaries.js'
import { canBind } from '../../src/data/ports.js'
import { dataDb } from '../../src/data/tables.js'
import { cloneClient, cloneQuery, dataSkip, hostLeftovers, startTestPg, testData, type TestData, type TestPg, teardownData } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'

describe.skipIf(Boolean(dataSkip))(`data lifecycle${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let t: TestData
  let mirror: Mirror
  const binds: { op: 'bind' | 'unbind'; project: string; sandbox: string; b: SandboxBinding }[] = []
  const sandboxStates = new Map<string, string>() // project/id → state, as the sandboxes area would answer
  const binder: SandboxBinder = {
    state: async (project, sandbox) => sandboxStates.get(`${project}/${sandbox}`),
    bind: async (project, sandbox, b) => void binds.push({ op: 'bind', project, sandbox, b }),
    unbind: async (project, sandbox, b) => void binds.push({ op: 'unbind', project, sandbox, b }),
  }
  const pool = () => t.poolRoot
  const count = async (c: Parameters<typeof cloneQuery>[0], table = 'customers') => Number((await cloneQuery<{ n: string }>(c, `SELECT count(*) AS n FROM ${table}`))[0]!.n)

  beforeAll(async () => {
    src = await startTestPg('life')
    await createShop(src, 120)
    t = await testData({ quotas: { default: { clones: 3, diskMb: 100_000, mirrors: 5 }, projects: {} } }, { binder })
    const s = await t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'shop'), name: 'shop' })
    mirror = await t.svc.createMirror(t.principal, { id: s.id, sample: { percent: 50, perTable: {}, seed: 3 }, masking: { defaults: true, rules: [] }, wait: true })
    await t.svc.settle() // the warm clone
  })

  afterAll(async () => {
    await teardownData(t, src)
  })

  it('hands out a warm clone, refills the pool, and keeps warm clones out of lists and quotas', async () => {
    const warm = await dataDb(t.store.db).selectFrom('data_clones').selectAll().where('state', '=', 'warm').execute()
    expect(warm).toHaveLength(1)
    const c = await t.svc.createClone(t.principal, { mirror: mirror.id, ttlSeconds: 600 })
    expect(c.id).toBe(warm[0]!.id)
    expect(await count(c)).toBeGreaterThan(0)
    await t.svc.settle()
    const next = await dataDb(t.store.db).selectFrom('data_clones').selectAll().where('state', '=', 'warm').execute()
    expect(next).toHaveLength(1)
    expect(next[0]!.id).not.toBe(c.id)
    expect((await t.svc.listClones(t.principal, { limit: 10 })).items.map((x) => x.id)).toEqual([c.id])
    expect((await t.svc.getMirror(t.principal, mirror.id)).clones).toBe(1)
    await t.svc.deleteClone(t.principal, c.id)
  })

  it('expires clones at their TTL (reaper), audits it, and lets PATCH extend it', async () => {
    const a = await t.svc.createClone(t.principal, { mirror: mirror.id, ttlSeconds: 60 })
    const b = await t.svc.createClone(t.principal, { mirror: mirror.id, ttlSeconds: 60 })
    await t.svc.patchClone(t.principal, b.id, 3600)
    t.clock.advance(61_000)
    const r = await t.svc.reap()
    expect(r.expired).toEqual([a.id])
    expect(hostLeftovers(a.id)).toEqual([])
    await expect(t.svc.getClone(t.principal, a.id)).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('expired') })
    expect(await count(b)).toBeGreaterThan(0)
    const audit = await t.store.db.selectFrom('audit').selectAll().where('action', '=', 'data.clone.expire').execute()
    expect(audit.map((x) => x.target)).toEqual([a.id])
    await t.svc.deleteClone(t.principal, b.id)
  })

  it('enforces the clones-per-project quota with scope, limit, used and retryAfter', async () => {
    const made = []
    for (let i = 0; i < 3; i++) made.push(await t.svc.createClone(t.principal, { mirror: mirror.id, ttlSeconds: 300 }))
    await expect(t.svc.createClone(t.principal, { mirror: mirror.id })).rejects.toMatchObject({
      code: 'quota_exceeded',
      details: { scope: 'data:proj:clones', limit: 3, used: 3, requested: 1, retryAfter: 300 },
    })
    for (const c of made) await t.svc.deleteClone(t.principal, c.id)
  })

  it('the cold path and the template fallback: isolated, snapshot and reset restore exactly, destroy leaves nothing', async () => {
    for (const opts of [{ warm: false }, { strategy: 'template' as const }]) {
      const a = await t.svc.createClone(t.principal, { mirror: mirror.id }, opts)
      const b = await t.svc.createClone(t.principal, { mirror: mirror.id }, opts)
      expect(a.strategy).toBe(opts.strategy ?? 'reflink')
      const n = await count(a)
      const ca = await cloneClient(a)
      await ca.query('DELETE FROM order_items')
      await ca.query('CREATE TABLE mine (x int)')
      await ca.end()
      expect(await count(b, 'order_items')).toBeGreaterThan(0)
      const snap = await t.svc.snapshotClone(t.principal, a.id, 'empty items')
      await (async () => {
        const c = await cloneClient(a)
        await c.query('DELETE FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)')
        await c.end()
      })()
      await t.svc.resetClone(t.principal, a.id, snap.id)
      expect(await count(a)).toBe(n)
      expect(await count(a, 'order_items')).toBe(0)
      await t.svc.resetClone(t.principal, a.id, 'start')
      expect(await count(a, 'order_items')).toBe(await count(b, 'order_items'))
      expect(await cloneQuery(a, `SELECT to_regclass('mine') AS r`)).toEqual([{ r: null }])
      // One clone's credentials do not open another (template: pg_hba sameuser on the shared server).
      await expect(cloneClient({ ...b, user: a.user, password: a.password })).rejects.toThrow()
      await expect(t.svc.resetClone(t.principal, a.id, 'dsnap_nosuchsnapshot')).rejects.toMatchObject({ code: 'not_found' })
      await t.svc.deleteClone(t.principal, a.id)
      await t.svc.deleteClone(t.principal, b.id)
      expect(hostLeftovers(a.id)).toEqual([])
      if (opts.strategy === 'template') {
        const dbs = execFileSync(join(src.bins.dir, 'psql'), ['-Atc', 'SELECT datname FROM pg_database ORDER BY 1'], {
          env: { PATH: process.env.PATH ?? '', PGHOST: b.socketDir, PGPORT: String(b.port), PGUSER: 'tidepool', PGDATABASE: 'shop' },
          encoding: 'utf8',
        })
        expect(dbs.trim().split('\n')).toEqual(['shop']) // clones and snapshots dropped
      }
    }
    await t.svc.reap(true) // the shared template server stays for its current mirror version
  })

  it('binds a clone to a sandbox: socket dir and DATABASE_URL go to the binder; one clone per sandbox; released with the sandbox', async () => {
    sandboxStates.set('proj/sbx_data0001', 'running')
    await expect(t.svc.createClone(t.principal, { mirror: mirror.id, sandbox: 'sbx_nosuchbox' })).rejects.toMatchObject({ code: 'not_found' })
    const c = await t.svc.createClone(t.principal, { mirror: mirror.id, sandbox: 'sbx_data0001' })
    expect(c.sandbox).toBe('sbx_data0001')
    const bound = binds.find((x) => x.op === 'bind')!
    expect(bound).toMatchObject({ project: 'proj', sandbox: 'sbx_data0001', b: { socketDir: c.socketDir, target: '/run/postgresql' } })
    expect(readdirSync(c.socketDir)).toContain(`.s.PGSQL.${c.port}`)
    // The URL the sandbox gets works through the socket dir (here: at its host path).
    const url = new URL(bound.b.envs.DATABASE_URL!.replace('%2Frun%2Fpostgresql', encodeURIComponent(c.socketDir)))
    const viaSocket = await cloneClient({
      host: decodeURIComponent(url.searchParams.get('host')!),
      port: Number(url.searchParams.get('port')),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1),
    })
    await viaSocket.end()
    await expect(t.svc.createClone(t.principal, { mirror: mirror.id, sandbox: 'sbx_data0001' })).rejects.toMatchObject({ code: 'conflict' })
    expect(await t.svc.releaseSandbox('proj', 'sbx_data0001')).toBe(1)
    expect(binds.filter((x) => x.op === 'unbind')).toHaveLength(1)
    expect(hostLeftovers(c.id)).toEqual([])
  })

  it('refresh: old clones keep their data and their "start"; new clones see the new data; the old base goes with its last clone', async () => {
    const old = await t.svc.createClone(t.principal, { mirror: mirror.id }, { warm: false })
    const before = await count(old)
    await src.sql('shop', `INSERT INTO customers (email, first_name, last_name) SELECT 'new' || g || '@corp-mail.test', 'N', 'M' FROM generate_series(1, 50) g`)
    const refreshed = await t.svc.refreshMirror(t.principal, mirror.id, true)
    expect(refreshed.refreshedAt).not.toBe(mirror.refreshedAt)
    const fresh = await t.svc.createClone(t.principal, { mirror: mirror.id })
    expect(await count(fresh)).toBeGreaterThan(before)
    await t.svc.resetClone(t.principal, old.id, 'start')
    expect(await count(old)).toBe(before)
    expect(readdirSync(join(pool(), 'mirrors', mirror.id)).sort()).toEqual(['v1', 'v2'])
    await t.svc.deleteClone(t.principal, old.id)
    await t.svc.settle()
    expect(readdirSync(join(pool(), 'mirrors', mirror.id))).toEqual(['v2'])
    await t.svc.deleteClone(t.principal, fresh.id)
    mirror = refreshed
  })

  it('builds asynchronously with progress, refreshes on schedule, and deletes only without clones', async () => {
    const s = await t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'shop'), name: 'sched' })
    const m = await t.svc.createMirror(t.principal, { id: s.id, sample: { percent: 30, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, refreshEverySeconds: 60, wait: false })
    expect(m).toMatchObject({ state: 'building', refreshing: true, progress: { phase: expect.any(String) } })
    await expect(t.svc.refreshMirror(t.principal, m.id, true)).rejects.toMatchObject({ code: 'conflict' })
    await t.svc.settle()
    const built = await t.svc.getMirror(t.principal, 'sched')
    expect(built).toMatchObject({ state: 'ready', refreshing: false, refreshEverySeconds: 60 })
    expect(built.progress).toBeUndefined()
    t.clock.advance(61_000)
    expect((await t.svc.reap()).refreshing).toEqual([m.id])
    await t.svc.settle()
    const again = await t.svc.getMirror(t.principal, m.id)
    expect(Date.parse(again.refreshedAt!)).toBeGreaterThan(Date.parse(built.refreshedAt!))
    const c = await t.svc.createClone(t.principal, { mirror: m.id })
    await expect(t.svc.deleteMirror(t.principal, m.id)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining(c.id) })
    await expect(t.svc.deleteSource(t.principal, s.id)).rejects.toMatchObject({ code: 'conflict' })
    await t.svc.deleteClone(t.principal, c.id)
    await t.svc.settle()
    await t.svc.deleteMirror(t.principal, m.id)
    expect(existsSync(join(pool(), 'mirrors', m.id))).toBe(false)
    expect(await dataDb(t.store.db).selectFrom('data_clones').select('id').where('mirror_id', '=', m.id).where('state', '!=', 'destroyed').execute()).toEqual([])
    await t.svc.deleteSource(t.principal, s.id)
  })

  it('after a crash: running clones are adopted (not duplicated), strays reaped; after a clean stop: restarted on the same port with their data', async () => {
    const c = await t.svc.createClone(t.principal, { mirror: mirror.id }, { warm: false })
    const cc = await cloneClient(c)
    await cc.query(`INSERT INTO employees (id, name) VALUES (99999, 'kept')`)
    await cc.end()
    await t.svc.settle()
    const dataDir = join(pool(), 'clones', c.id, 'pgdata')
    const pid = await serverPid(dataDir)
    // A stray: a server on a copy of the clone, which no record owns.
    execFileSync('cp', ['-a', '--reflink=always', join(pool(), 'clones', c.id), join(pool(), 'clones', 'dcl_stray0000000000')])
    execFileSync('rm', ['-f', join(pool(), 'clones', 'dcl_stray0000000000', 'pgdata', 'postmaster.pid')])
    const bins = (await findPgBinaries())[0]!
    await startServer({
      bins,
      dataDir: join(pool(), 'clones', 'dcl_stray0000000000', 'pgdata'),
      port: 29_999,
      socketDir: join(t.socketRoot, 'dcl_stray0000000000'),
      name: 'tidepool-stray',
      runAs: await resolveRunAs('postgres'),
      logFile: '/dev/null',
    })

    // "Crash": a second service over the same store and dirs, the first one simply abandoned.
    const t2 = await testData({}, { store: t.store, home: t.home, binder })
    await t2.svc.start({ reaper: false })
    expect(await serverPid(dataDir)).toBe(pid)
    const servers = (await postmastersUnder(pool())).filter((p) => p.dataDir === dataDir)
    expect(servers).toHaveLength(1)
    expect(existsSync(join(pool(), 'clones', 'dcl_stray0000000000'))).toBe(false)
    expect(hostLeftovers('dcl_stray0000000000')).toEqual([])
    expect(await canBind(29_999)).toBe(true)

    // Clean stop, start again: same port, same credentials, same data.
    await t2.svc.close()
    expect(await serverPid(dataDir)).toBeUndefined()
    // A clean stop leaves no mount: the pool dir's bind mount into the run dir (as root) goes with it.
    const mounts = readFileSyncSafe('/proc/mounts')
      .split('\n')
      .filter((l) => l.includes(t.home))
    expect(mounts.map((l) => l.split(' ')[1])).toEqual([])
    expect(mounts.join('\n')).not.toContain('/dev/loop')
    const t3 = await testData({}, { store: t.store, home: t.home, binder })
    await t3.svc.start({ reaper: false })
    const again = await t3.svc.getClone(t.principal, c.id)
    expect(again.port).toBe(c.port)
    expect(await cloneQuery(again, `SELECT name FROM employees WHERE id = 99999`)).toEqual([{ name: 'kept' }])
    await t3.svc.deleteClone(t.principal, c.id)
    t = { ...t, svc: t3.svc }
  })
})

function readFileSyncSafe(p: string): string {
  return execFileSync('cat', [p], { encoding: 'utf8' })
}

describe.skipIf(Boolean(dataSkip))(`data on a pool without reflink${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let t: TestData
  beforeAll(async () => {
    src = await startTestPg('copy')
    await createShop(src, 40)
    t = await testData({ storage: { kind: 'copy', imageSizeMb: 300 } })
  })
  afterAll(async () => {
    await teardownData(t, src)
  })

  it('falls back to CREATE DATABASE … TEMPLATE clones, mounts no image, and still isolates and resets', async () => {
    const s = await t.svc.addSource(t.principal, { url: src.url('reader', READER_PASSWORD, 'shop') })
    const m = await t.svc.createMirror(t.principal, { id: s.id, sample: { percent: 50, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, wait: true })
    // No image: only the pool dir itself, bind-mounted into the run dir where the postgres user reaches it (as root).
    const mounts = readFileSyncSafe('/proc/mounts')
      .split('\n')
      .filter((l) => l.includes(t.home))
    expect(mounts.map((l) => l.split(' ')[1])).toEqual(process.getuid?.() === 0 ? [t.poolRoot] : [])
    expect(mounts.join('\n')).not.toContain('/dev/loop')
    const a = await t.svc.createClone(t.principal, { mirror: m.id })
    const b = await t.svc.createClone(t.principal, { mirror: m.id })
    expect([a.strategy, b.strategy]).toEqual(['template', 'template'])
    expect(a.port).toBe(b.port) // one shared server per mirror version
    const n = Number((await cloneQuery<{ n: string }>(a, 'SELECT count(*) AS n FROM orders'))[0]!.n)
    const ca = await cloneClient(a)
    await ca.query('DELETE FROM order_items')
    await ca.query('DELETE FROM order_tags')
    await ca.query('DELETE FROM orders')
    await ca.end()
    expect(Number((await cloneQuery<{ n: string }>(b, 'SELECT count(*) AS n FROM orders'))[0]!.n)).toBe(n)
    await t.svc.resetClone(t.principal, a.id, 'start')
    expect(Number((await cloneQuery<{ n: string }>(a, 'SELECT count(*) AS n FROM orders'))[0]!.n)).toBe(n)
    await t.svc.deleteClone(t.principal, a.id)
    await t.svc.deleteClone(t.principal, b.id)
  })
})
