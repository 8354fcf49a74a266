/**
 * The data area through the real HTTP server, the SDK client and the built CLI: routes and status codes
 * from the operation table, validation, project scoping, quota errors as 429, and `tidepool data …`.
 */
import { join } from 'node:path'
import { ApiError, createClient, type Client, type MaskingReport } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { cloneQuery, dataSkip, hostLeftovers, scrubHome, startTestPg, tempDir, type TestPg } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'
import { cliRunner } from './support/cli.js'

describe.skipIf(Boolean(dataSkip))(`data API and CLI${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let home: string
  let cp: ControlPlane
  let url: string
  let api: Client

  beforeAll(async () => {
    src = await startTestPg('api')
    await createShop(src, 80)
    home = tempDir('tp-data-api-')
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        data: { dir: join(home, 'data'), socketDir: join(home, 's'), warmClones: 0, quotas: { default: { clones: 2, diskMb: 100_000, mirrors: 5 }, projects: {} } },
      },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false, runtime: new FakeRuntime() })
    url = (await cp.listen()).url
    api = createClient({ baseUrl: url, token: cp.adminToken!, timeoutMs: 120_000 })
  })

  afterAll(async () => {
    try {
      await cp?.close()
      await src?.stop()
      if (home) expect(hostLeftovers(home)).toEqual([])
    } finally {
      if (home) await scrubHome(home)
    }
  })

  it('serves the data operations: 201 on create, 204 on delete, 400 with field and rule, 404, 429 with Retry-After', async () => {
    const bad = await fetch(`${url}/v1/data/sources`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'http://nope' }),
    })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^url: url must be a PostgreSQL URL/)

    const s = await api.createDataSource({ url: src.url('reader', READER_PASSWORD, 'shop') })
    expect(s).toMatchObject({ name: 'shop', database: 'shop', url: expect.stringContaining('reader:***@') })
    expect(JSON.stringify(await api.listDataSources({}))).not.toContain(READER_PASSWORD)
    const m = await api.createMirror({ id: s.id, sample: { percent: 40 } })
    expect(m).toMatchObject({ state: 'ready', report: { rows: expect.any(Number) } })
    const a = await api.createClone({ mirror: 'shop', ttlSeconds: 120 })
    expect(await cloneQuery(a, 'SELECT count(*) > 0 AS ok FROM customers')).toEqual([{ ok: true }])
    const b = await api.createClone({ mirror: m.id })
    const over = await fetch(`${url}/v1/data/clones`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mirror: m.id }),
    })
    expect(over.status).toBe(429)
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)
    const snap = await api.createCloneSnapshot({ id: a.id, label: 'x' })
    expect((await api.resetClone({ id: a.id, to: snap.id })).resetAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/)
    expect((await api.getClone({ id: a.id })).snapshots.map((x) => x.id)).toEqual([snap.id])
    const del = await fetch(`${url}/v1/data/clones/${b.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${cp.adminToken}` } })
    expect(del.status).toBe(204)
    await expect(api.getClone({ id: b.id })).rejects.toMatchObject({ code: 'not_found' })

    // Another project sees none of it; a read-only token may not change anything.
    const other = await api.createToken({ project: 'other', scopes: ['data:read'] })
    const o = createClient({ baseUrl: url, token: other.token })
    expect((await o.listClones({})).items).toEqual([])
    await expect(o.getClone({ id: a.id })).rejects.toMatchObject({ code: 'not_found' })
    await expect(o.deleteClone({ id: a.id })).rejects.toBeInstanceOf(ApiError)
    await api.deleteClone({ id: a.id })
  })

  it('the CLI: source add, mirror with progress on stderr, clone, reset, ls, rm — with --json', async () => {
    const env = { ...process.env, TIDEPOOL_URL: url, TIDEPOOL_TOKEN: cp.adminToken!, TIDEPOOL_HOME: home }
    const cli = cliRunner(env)
    const added = await cli('data', 'source', 'add', src.url('reader', READER_PASSWORD, 'shop'), '--name', 'cli', '--json')
    expect(added.status).toBe(0)
    // The dry run: a plan per column, nothing built.
    const planned = await cli('data', 'mirror', 'cli', '--percent', '50', '--dry-run', '--rows', '40', '--json')
    expect(planned.status).toBe(0)
    const plan = JSON.parse(planned.stdout) as MaskingReport
    const col = (table: string, column: string) => plan.tables.find((x) => x.table === table)!.columns.find((c) => c.column === column)!
    expect(plan.dryRun).toBe(true)
    expect(col('public.customers', 'email')).toMatchObject({ masking: 'name', rule: 'email' })
    expect(col('public.orders', 'note')).toMatchObject({ masking: 'none', reason: 'scanned by content: nothing found' })
    expect(col('public.orders', 'note').scanned).toBeGreaterThan(0)
    expect(col('public.orders', 'note').scanned).toBeLessThanOrEqual(40)
    const planText = await cli('data', 'mirror', 'cli', '--dry-run', '--no-content-masks')
    expect(planText.status).toBe(0)
    expect(planText.stdout).toContain('masking plan (dry run, nothing built): content scanning off')
    expect(planText.stdout).toMatch(/public\.customers\.email\s+by name\s+email/)
    expect(planText.stdout).toMatch(/public\.orders\.note\s+as is\s+.*content scanning off/)
    expect((await api.listMirrors({ limit: 100 })).items.map((m) => m.name)).not.toContain('cli')
    const mirrored = await cli('data', 'mirror', 'cli', '--name', 'cli-mirror', '--percent', '25', '--table', 'employees=10', '--mask', 'orders.note=hash')
    expect(mirrored.status).toBe(0)
    expect(mirrored.stderr).toContain('building mirror of')
    expect(mirrored.stdout).toMatch(/mirror dmir_\w+ \(cli-mirror\) ready: \d+ rows/)
    expect(mirrored.stdout).toContain('note:hash')
    const badMask = await cli('data', 'mirror', 'cli', '--mask', 'orders.total=email')
    expect(badMask.status).toBe(64)
    expect(badMask.stderr).toMatch(/invalid_request: masking: public\.orders\.total is numeric/)
    const cloned = await cli('data', 'clone', 'cli-mirror', '--ttl', '10m', '--json')
    expect(cloned.status).toBe(0)
    const clone = JSON.parse(cloned.stdout) as { id: string; url: string }
    expect(clone.url).toMatch(/^postgresql:\/\/dcl_\w+:[^@]+@127\.0\.0\.1:\d+\/shop$/)
    expect((await cli('data', 'reset', clone.id)).status).toBe(0)
    const ls = JSON.parse((await cli('data', 'ls', '--json')).stdout) as { clones: { id: string }[]; mirrors: { name: string }[] }
    expect(ls.clones.map((c) => c.id)).toContain(clone.id)
    expect(ls.mirrors.map((m) => m.name)).toContain('cli-mirror')
    expect((await cli('data', 'rm', clone.id)).status).toBe(0)
    const gone = await cli('data', 'get', clone.id)
    expect(gone.status).toBe(66)
    expect((await cli('data', 'mirror', 'rm', 'cli-mirror')).status).toBe(0)
    expect((await cli('data', 'source', 'rm', 'cli')).status).toBe(0)
  })
})
