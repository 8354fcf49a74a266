import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openStore, sqliteModule, type OpenedStore } from './db.js'

const dirs: string[] = []
const stores: OpenedStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('openStore (SQLite)', () => {
  it('is owned by one process at a time: a second opener gets conflict with what to do, and the first keeps working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-store-'))
    dirs.push(dir)
    const file = join(dir, 'tidepool.db')
    const first = await openStore(`sqlite:${file}`)
    stores.push(first)
    await expect(openStore(`sqlite:${file}`)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('in use by another tidepool process') })
    await first.db.insertInto('events').values({ at: 'now', project: 'p', sandbox_id: 's', kind: 'k', actor: 'a', data: '{}' }).execute()
    expect((await first.db.selectFrom('events').select('kind').execute()).map((r) => r.kind)).toEqual(['k'])
    await first.close()
    stores.splice(0)
    const again = await openStore(`sqlite:${file}`) // free once closed
    stores.push(again)
    expect((await again.db.selectFrom('events').select('kind').execute()).map((r) => r.kind)).toEqual(['k'])
  })
})

describe('openStore refuses a damaged SQLite file, naming it and what to do', () => {
  const home = () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-store-'))
    dirs.push(dir)
    return dir
  }
  const refusal = (file: string, problem: string) => ({
    code: 'runtime_unavailable',
    details: { file, problem },
    message: expect.stringMatching(new RegExp(`^the store ${file} is damaged .*restore ${file} from a backup.*move it`)),
  })

  it('a 0-byte file is refused, not started as a fresh install; the file stays as it was', async () => {
    const dir = home()
    const file = join(dir, 'tidepool.db')
    writeFileSync(file, '')
    await expect(openStore(`sqlite:${file}`)).rejects.toMatchObject(refusal(file, 'empty'))
    expect(statSync(file).size).toBe(0)
  })

  it('a file that is not SQLite is refused', async () => {
    const dir = home()
    const file = join(dir, 'tidepool.db')
    writeFileSync(file, 'this is a text file, not a database\n'.repeat(200))
    await expect(openStore(`sqlite:${file}`)).rejects.toMatchObject(refusal(file, 'not_sqlite'))
  })

  it('a store with garbage pages (header intact) is refused by quick_check', async () => {
    const dir = home()
    const file = join(dir, 'tidepool.db')
    const s = await openStore(`sqlite:${file}`)
    for (let i = 0; i < 40; i++)
      await s.db
        .insertInto('events')
        .values({ at: `t${i}`, project: 'p', sandbox_id: 's', kind: 'k'.repeat(500), actor: 'a', data: '{}' })
        .execute()
    await s.close()
    const size = statSync(file).size
    expect(size).toBeGreaterThan(8 * 4096)
    // Page 1 (the header and the schema) stays; the pages after it become noise.
    const fd = openSync(file, 'r+')
    let x = 12345
    const junk = Buffer.alloc(size - 4096, 0).map(() => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff)
    writeSync(fd, junk, 0, junk.length, 4096)
    closeSync(fd)
    await expect(openStore(`sqlite:${file}`)).rejects.toMatchObject(refusal(file, 'corrupt'))
  })

  it('a store without its migration table in a home that has run before (admin.token there) is refused', async () => {
    const dir = home()
    const file = join(dir, 'tidepool.db')
    writeFileSync(join(dir, 'admin.token'), 'tp_old\n', { mode: 0o600 })
    const Database = await sqliteModule()
    const raw = new Database(file) // a valid SQLite file, but not one tidepool ever migrated
    raw.exec('CREATE TABLE unrelated (x)')
    raw.close()
    await expect(openStore(`sqlite:${file}`)).rejects.toMatchObject({ ...refusal(file, 'unmigrated'), message: expect.stringContaining('admin.token') })
    // And a store that is gone altogether, beside a runtime dir and a token: refused too, and not created.
    const dir2 = home()
    const file2 = join(dir2, 'tidepool.db')
    writeFileSync(join(dir2, 'admin.token'), 'tp_old\n', { mode: 0o600 })
    mkdirSync(join(dir2, 'runtime'))
    await expect(openStore(`sqlite:${file2}`)).rejects.toMatchObject({ ...refusal(file2, 'unmigrated'), message: expect.stringContaining('admin.token, runtime') })
    expect(() => statSync(file2)).toThrow()
    expect(readFileSync(join(dir2, 'admin.token'), 'utf8')).toBe('tp_old\n')
  })

  it('a fresh home still starts, and the store and its -wal are 0600 in a 0700 dir', async () => {
    const dir = join(home(), 'home')
    const file = join(dir, 'tidepool.db')
    const s = await openStore(`sqlite:${file}`)
    stores.push(s)
    await s.db.insertInto('events').values({ at: 'now', project: 'p', sandbox_id: 's', kind: 'k', actor: 'a', data: '{}' }).execute()
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    // (EXCLUSIVE locking keeps the WAL index in memory, so there is no -shm unless an older version made one.)
    for (const f of [file, `${file}-wal`, ...(existsSync(`${file}-shm`) ? [`${file}-shm`] : [])]) expect({ f, mode: statSync(f).mode & 0o777 }).toEqual({ f, mode: 0o600 })
  })

  it('an existing store made 0644 by an older version is tightened to 0600 on open', async () => {
    const dir = home()
    const file = join(dir, 'tidepool.db')
    await (await openStore(`sqlite:${file}`)).close()
    const { chmodSync } = await import('node:fs')
    chmodSync(file, 0o644)
    const s = await openStore(`sqlite:${file}`)
    stores.push(s)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })
})

describe('one SQLite loader', () => {
  // better-sqlite3 12 is built for Node 20 only; a module (test or code) that imports it directly instead of
  // through sqliteModule() passes on Node 20 and fails on Node 24 — as CI once found.
  it('no module but store/db.ts loads better-sqlite3 at runtime', async () => {
    const { readdirSync } = await import('node:fs')
    const root = join(import.meta.dirname, '..')
    const offenders: string[] = []
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue
      const path = join(entry.parentPath, entry.name)
      if (path === join(root, 'store', 'db.ts')) continue
      const text = readFileSync(path, 'utf8')
      if (/^import (?!type )[^\n]*from 'better-sqlite3(-napi)?'|import\('better-sqlite3(-napi)?'\)/m.test(text)) offenders.push(path.slice(root.length + 1))
    }
    expect(offenders).toEqual([])
  })
})
