/**
 * The data area's place on the host, with the default layout over a private (0700) home as root: the
 * image, its data and the dirs are out of other local users' reach; a request that fails its cheap
 * checks allocates nothing; and a clean stop leaves nothing in /run, /var/lib or /tmp — no mount,
 * loop device, socket dir, server or warm clone.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Principal } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { AuditLog } from '../../src/audit/audit-log.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { resolveDataDir, resolveSocketRoot } from '../../src/data/layout.js'
import { postmastersUnder, resolveRunAs } from '../../src/data/pg-server.js'
import { createDataService, type DataService } from '../../src/data/service.js'
import type { AreaDeps } from '../../src/kit/area-deps.js'
import { EventLog } from '../../src/kit/events.js'
import { openStore } from '../../src/store/db.js'
import { dataSkip, hostLeftovers, scrubHome, startTestPg, type TestPg } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'

const principal: Principal = { tokenId: 'tok_test', name: 'test', project: 'proj', scopes: ['data:read', 'data:write'] }
const spec = { sample: { percent: 20, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, wait: true } as const

interface Area {
  svc: DataService
  home: string
  dataDir: string
  runDir: string
  image: string
}

/** A data service with no data.dir / data.socketDir: the defaults decide every path. */
async function area(data: Record<string, unknown> = {}): Promise<Area> {
  const home = mkdtempSync('/tmp/tp-home-') // 0700, root's: what a real home is
  const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', data: { storage: { kind: 'reflink', imageSizeMb: 320 }, ...data } } })
  const store = await openStore(':memory:')
  const clock = { now: () => Date.now() }
  const deps: AreaDeps = { config, store, clock, log: silentLogger, audit: new AuditLog(store.db, clock), events: new EventLog(store.db, clock), runtime: undefined as never }
  const dataDir = resolveDataDir(home, undefined)
  return { svc: createDataService(deps), home, dataDir, runDir: resolveSocketRoot(dataDir, undefined), image: join(dataDir, 'pool.xfs.img') }
}

/** Everything the area could leave outside the home, and mounts/loops/servers anywhere. */
function outside(a: Area): string[] {
  const found = [...hostLeftovers(a.home), ...hostLeftovers(a.runDir)]
  for (const p of [a.runDir, legacyDataDir(a.home)]) if (existsSync(p)) found.push(`path ${p}`)
  const tag = a.runDir.split('-').pop()!
  for (const dir of ['/run', '/tmp', '/var/lib/tidepool'].filter((d) => existsSync(d))) for (const n of readdirSync(dir).filter((x) => x.includes(tag))) found.push(`path ${dir}/${n}`)
  return found
}

/** Runs `cmd` as the unprivileged user nobody; its exit status and stderr. */
function asNobody(cmd: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', ...cmd], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } })
  return { status: r.status, stderr: r.stderr }
}

/** Where versions before this one put a root-run home's data area: it must stay unused. */
const legacyDataDir = (home: string) => `/var/lib/tidepool/data-${createHash('sha256').update(home).digest('hex').slice(0, 8)}`
const modeOf = (p: string) => statSync(p).mode & 0o777

describe.skipIf(Boolean(dataSkip))(`data area on the host${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let a: Area | undefined
  let src: TestPg | undefined

  afterEach(async () => {
    try {
      await a?.svc.close()
      await src?.stop()
    } finally {
      if (a) {
        await scrubHome(a.runDir)
        await scrubHome(legacyDataDir(a.home))
        await scrubHome(a.home)
      }
      a = undefined
      src = undefined
    }
  })

  it('a mirror of a source that is gone, or a clone of an unknown mirror, makes no image, loop device, mount or run dir', async () => {
    a = await area()
    src = await startTestPg('gone')
    await src.sql('postgres', `CREATE ROLE r LOGIN PASSWORD 'r'`)
    await src.sql('postgres', 'CREATE DATABASE gone OWNER r')
    const s = await a.svc.addSource(principal, { url: src.url('r', 'r', 'gone'), name: 'gone' })
    await src.sql('postgres', 'DROP DATABASE gone')
    await expect(a.svc.createMirror(principal, { id: s.id, ...spec })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('gone') })
    await expect(a.svc.createClone(principal, { mirror: 'dmir_nosuchmirror' })).rejects.toMatchObject({ code: 'not_found' })
    await expect(a.svc.refreshMirror(principal, 'dmir_nosuchmirror', true)).rejects.toMatchObject({ code: 'not_found' })
    expect(existsSync(a.image)).toBe(false)
    expect(outside(a)).toEqual([])
  })

  it('keeps the image 0600 in 0700 dirs, out of reach of other local users, and a clean stop leaves nothing outside the home', async () => {
    a = await area({ warmClones: 1 })
    src = await startTestPg('home')
    await createShop(src, 30)
    const s = await a.svc.addSource(principal, { url: src.url('reader', READER_PASSWORD, 'shop'), name: 'shop' })
    const m = await a.svc.createMirror(principal, { id: s.id, ...spec })
    const c = await a.svc.createClone(principal, { mirror: m.id, ttlSeconds: 600 })
    await a.svc.settle() // the warm clone behind it is made too

    // What lasts is in the home: the image 0600 in a 0700 data dir.
    expect(a.image.startsWith(`${a.home}/`)).toBe(true)
    expect({ home: modeOf(a.home), data: modeOf(a.dataDir), image: modeOf(a.image) }).toEqual({ home: 0o700, data: 0o700, image: 0o600 })
    // What runs is in one short run dir the postgres user may pass (0710, its group) and nobody else may enter.
    const runAs = (await resolveRunAs('postgres'))!
    expect(a.runDir).toMatch(/^\/run\/tidepool-[0-9a-f]{8}$/)
    expect({ mode: modeOf(a.runDir), gid: statSync(a.runDir).gid, uid: statSync(a.runDir).uid }).toEqual({ mode: 0o710, gid: runAs.gid, uid: 0 })
    expect(c.socketDir.startsWith(`${a.runDir}/`)).toBe(true)
    // A local user reads neither the image (where the mirrored rows are) nor the pool through its mount.
    for (const p of [a.image, join(a.runDir, 'pool', 'clones')]) expect(asNobody(['ls', p])).toMatchObject({ status: 2, stderr: expect.stringContaining('Permission denied') })
    expect(asNobody(['head', '-c', '1', a.image]).stderr).toContain('Permission denied')
    expect(readFileSync('/proc/mounts', 'utf8')).toContain(`${a.runDir}/pool`)
    expect(readdirSync(join(a.runDir, 'pool', 'clones')).length).toBeGreaterThanOrEqual(2) // the clone and a warm one

    await a.svc.close()
    expect(await postmastersUnder(a.home)).toEqual([])
    expect(await postmastersUnder(a.runDir)).toEqual([])
    expect(outside(a)).toEqual([])
    expect(existsSync(a.image)).toBe(true) // the data stays, in the home, for the next start
    rmSync(a.home, { recursive: true, force: true })
  })
})
