import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { operations, type Principal } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuditLog } from '../audit/audit-log.js'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { EventLog } from '../kit/events.js'
import { openStore, type OpenedStore } from '../store/db.js'
import { DataConfig } from './config.js'
import { dataHandlers } from './handlers.js'
import { resolveSocketRoot } from './layout.js'
import { createDataService, type DataService } from './service.js'
import { dataDb } from './tables.js'

const p: Principal = { tokenId: 'tok_1', name: 't', project: 'proj', scopes: ['data:read', 'data:write'] }

describe('data service (no PostgreSQL needed)', () => {
  let home: string
  let store: OpenedStore
  let svc: DataService
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tp-data-unit-'))
    store = await openStore(':memory:')
    const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', data: { dir: join(home, 'data') } } })
    const clock = { now: () => Date.now() }
    svc = createDataService({ config, store, clock, log: silentLogger, audit: new AuditLog(store.db, clock), events: new EventLog(store.db, clock), runtime: undefined as never })
  })
  afterAll(async () => {
    await svc.close()
    await store.close()
    rmSync(home, { recursive: true, force: true })
  })

  it('defaults every config key', () => {
    const c = DataConfig.parse({})
    expect(c).toMatchObject({
      runAsUser: 'postgres',
      cloneStrategy: 'auto',
      defaultTtlSeconds: 3600,
      warmClones: 1,
      storage: { kind: 'auto', imageSizeMb: 20_480 },
      quotas: { default: { clones: 20, diskMb: 20_480, mirrors: 10 } },
    })
  })

  it('has a handler for every data operation', () => {
    const dataOps = Object.entries(operations)
      .filter(([, op]) => (op.tags as readonly string[]).includes('data'))
      .map(([name]) => name)
    expect(Object.keys(dataHandlers).sort()).toEqual(dataOps.sort())
  })

  it('refuses a bad source URL and an unreachable source with clear errors, recording nothing', async () => {
    await expect(svc.addSource(p, { url: 'postgresql://u:pw@127.0.0.1:5432' })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('database name is missing') })
    await expect(svc.addSource(p, { url: 'postgresql://u:pw@127.0.0.1:1/db' })).rejects.toMatchObject({
      code: 'runtime_unavailable',
      message: expect.stringContaining('cannot reach source 127.0.0.1:1'),
    })
    expect(await dataDb(store.db).selectFrom('data_sources').selectAll().execute()).toEqual([])
  })

  it('answers not_found for what the project does not have', async () => {
    await expect(svc.getMirror(p, 'nope')).rejects.toMatchObject({ code: 'not_found', message: 'mirror nope not found' })
    await expect(svc.deleteSource(p, 'dsrc_missing1')).rejects.toMatchObject({ code: 'not_found' })
    await expect(svc.getClone(p, 'dcl_missing123')).rejects.toMatchObject({ code: 'not_found' })
    expect(await svc.listClones(p, { limit: 10 })).toEqual({ items: [] })
    expect(await svc.releaseSandbox('proj', 'sbx_none')).toBe(0)
  })

  it('touches no disk until the area is used', async () => {
    await svc.start({ reaper: false })
    expect((await svc.reap(true)).expired).toEqual([])
    expect(existsSync(join(home, 'data'))).toBe(false)
  })

  it('refuses a socket dir too long for Unix sockets', () => {
    expect(() => resolveSocketRoot('/x', `/tmp/${'a'.repeat(80)}`)).toThrow(/too long for Unix socket paths/)
  })
})
