/** @module store/opened-store — the types of an open store (below store/db and store/postgres, which both make one). */
import type SQLite from 'better-sqlite3'
import type { Kysely } from 'kysely'
import type { CoreTables } from './schema.js'

export type Db = Kysely<CoreTables>

export interface OpenedStore {
  db: Db
  dialect: 'sqlite' | 'postgres'
  /** The raw better-sqlite3 handle for bulk hot paths (undefined on PostgreSQL). */
  sqlite?: SQLite.Database
  close(): Promise<void>
}
