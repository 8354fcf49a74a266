/** @module store/db — one Kysely instance over embedded SQLite (default) or PostgreSQL, migrated on open. */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import type SQLite from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely'
import { AppError } from '../core/errors.js'
import { migrations } from './migrations/index.js'
import { checkAfterOpen, checkBeforeOpen, damaged, isCorruption, tightenModes, type StoreFileState } from './sqlite-file.js'
import { cachingStatements } from './statement-cache.js'
import type { CoreTables } from './schema.js'
import type { Db, OpenedStore } from './opened-store.js'

export type { Db, OpenedStore }

/** Opens `sqlite:<file>` / `:memory:` / a bare file path, or `postgres://…`, and runs pending migrations. */
export async function openStore(url: string): Promise<OpenedStore> {
  let opened: OpenedStore
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { openPostgres } = await import('./postgres.js')
    opened = await openPostgres(url)
  } else {
    const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url
    const onDisk = file !== ':memory:' && file !== ''
    let state: StoreFileState = { existed: false, homeState: [] }
    if (onDisk) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      state = checkBeforeOpen(file)
      // Created 0600 before SQLite sees it: SQLite gives its -wal and -shm the database file's mode.
      if (!existsSync(file)) closeSync(openSync(file, 'wx', 0o600))
      tightenModes(file)
    }
    const Database = await sqliteModule()
    const sqlite = new Database(file)
    try {
      // One process owns the store: two servers on one home would fork the audit chain and fight over
      // the same sandboxes. The lock also spares every transaction its file-lock system calls.
      sqlite.pragma('locking_mode = EXCLUSIVE')
      sqlite.pragma('busy_timeout = 2000')
      sqlite.pragma('journal_mode = WAL')
      if (onDisk) checkAfterOpen(file, sqlite, state)
    } catch (err) {
      sqlite.close()
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
        throw new AppError('conflict', `the store ${file} is in use by another tidepool process (a running server?); stop it, use the API instead, or set another TIDEPOOL_HOME`, undefined, {
          cause: err,
        })
      }
      if (isCorruption(err)) throw damaged(file, 'corrupt', `SQLite cannot read it: ${(err as Error).message}`, err)
      throw err
    }
    if (onDisk) tightenModes(file)
    sqlite.pragma('synchronous = NORMAL')
    sqlite.pragma('foreign_keys = ON')
    const db = new Kysely<CoreTables>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) })
    opened = { db, dialect: 'sqlite', sqlite, close: () => db.destroy() }
  }
  await migrate(opened.db)
  return opened
}

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations
  }
}

async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticProvider() })
  const { error, results } = await migrator.migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error) {
    throw new AppError('internal', `store migration ${failed?.migrationName ?? ''} failed: ${String((error as Error).message ?? error)}`, undefined, { cause: error })
  }
}

/**
 * better-sqlite3 12 on Node 20 (13 needs Node 22); 13 — a Node-API build — from Node 22 on. 12.x subclasses
 * Node's raw ObjectWrap, and since Node 24.19 its finalizers abort the process when a statement is
 * garbage-collected (`RemoveEnvironmentCleanupHook … (env) != nullptr`); 13 has no such path, and its
 * prebuilt binary needs no rebuild per Node version. Same API either way.
 */
export async function sqliteModule(): Promise<typeof SQLite> {
  const major = Number(process.versions.node.split('.')[0])
  const mod = major >= 22 ? await import('better-sqlite3-napi') : await import('better-sqlite3')
  return (mod as { default: typeof SQLite }).default
}
