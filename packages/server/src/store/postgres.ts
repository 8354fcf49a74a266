/** @module store/postgres — the PostgreSQL dialect, loaded only when a postgres:// store URL is configured. */
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { OpenedStore } from './opened-store.js'
import type { CoreTables } from './schema.js'

export async function openPostgres(url: string): Promise<OpenedStore> {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  const db = new Kysely<CoreTables>({ dialect: new PostgresDialect({ pool }) })
  return { db, dialect: 'postgres', close: () => db.destroy() }
}
