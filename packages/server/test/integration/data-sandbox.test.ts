/**
 * A clone bound to a sandbox, for real: PostgreSQL source → mirror → clone bound to sandbox A; inside A,
 * psql reaches the clone over its Unix socket with DATABASE_URL and no network; sandbox B sees neither the
 * socket nor the credentials; deleting the clone takes both away again.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Client } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { dataSkip, startTestPg, type TestPg } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const skip = skipReason ?? dataSkip
const cgroupName = `tidepool-it-data-${process.pid}`

describe.skipIf(Boolean(skip))(`clone bound to a sandbox${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let src: TestPg
  let home: string
  let cp: ControlPlane
  let api: Client

  beforeAll(async () => {
    src = await startTestPg('bind')
    await createShop(src, 50)
    home = mkdtempSync(join(tmpdir(), 'tp-bind-'))
    chmodSync(home, 0o755) // the managed PostgreSQL servers run as the postgres user and must reach data.dir
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, data: { dir: join(home, 'data'), socketDir: join(home, 's') } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    api = createClient({ baseUrl: (await cp.listen()).url, token: cp.adminToken! })
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    await src?.stop()
    if (home && !readFileSync('/proc/mounts', 'utf8').includes(home)) rmSync(home, { recursive: true, force: true })
  })

  it('gives only the bound sandbox the clone, over its socket', async () => {
    const source = await api.createDataSource({ url: src.url('reader', READER_PASSWORD, 'shop') })
    const mirror = await api.createMirror({ id: source.id, wait: true })
    const a = await api.createSandbox({})
    const b = await api.createSandbox({})
    const clone = await api.createClone({ mirror: mirror.id, sandbox: a.id })
    expect((await api.getSandbox({ id: a.id })).envKeys).toContain('DATABASE_URL')
    const q = await api.exec({ id: a.id, cmd: 'psql "$DATABASE_URL" -tAc "select count(*) > 0 from customers"' })
    expect(q.stderr).toBe('')
    expect(q.stdout.trim()).toBe('t')
    // Writes land in the clone only.
    expect((await api.exec({ id: a.id, cmd: 'psql -tAc "create table from_sandbox(x int)"' })).exitCode).toBe(0)
    const other = await api.exec({ id: b.id, cmd: 'ls -A /run/postgresql 2>&1; echo "url=${DATABASE_URL:-none}"' })
    expect(other.stdout).not.toMatch(/\.s\.PGSQL/)
    expect(other.stdout).toMatch(/url=none/)
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(a.id)
    await api.deleteClone({ id: clone.id })
    expect((await api.getSandbox({ id: a.id })).envKeys).not.toContain('DATABASE_URL')
    expect((await api.exec({ id: a.id, cmd: 'ls -A /run/postgresql' })).stdout).toBe('')
    // A clone bound to a sandbox ends with it.
    const bound = await api.createClone({ mirror: mirror.id, sandbox: a.id })
    await api.deleteSandbox({ id: a.id })
    let live = true
    for (let i = 0; i < 100 && live; i++) {
      live = (await api.listClones({})).items.some((c) => c.id === bound.id)
      if (live) await new Promise((r) => setTimeout(r, 100))
    }
    expect(live).toBe(false)
    await api.deleteSandbox({ id: b.id })
    expect(leftovers(cgroupName, [a.id, b.id])).toEqual([])
  })
})
