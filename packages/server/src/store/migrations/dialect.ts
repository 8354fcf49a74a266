/** @module store/migrations/dialect — the few places where SQLite and PostgreSQL DDL differ. */
import { PostgresAdapter, type Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

/** Column type for an auto-assigned, ever-increasing sequence number. */
export function serialType(db: Kysely<any>): 'integer' | 'bigserial' {
  return isPostgres(db) ? 'bigserial' : 'integer'
}
