/** @module store/opened-store — what opening a store yields, whichever dialect: its own module so that db.ts and the dialect modules it loads import it, not each other. */
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
