/** @module store/statement-cache — reuse better-sqlite3 statements across Kysely queries. */

/** The part of a better-sqlite3 Database (and of its statements) that Kysely's SqliteDialect uses. */
export interface PreparingDatabase<S extends { busy: boolean }> {
  prepare(sql: string): S
  close(): unknown
}

/**
 * Kysely's SQLite driver prepares every query anew; on the exec path that parse and plan cost more than
 * running the query. This keeps up to `max` prepared statements by SQL text (least recently used out).
 * A statement still iterating a streamed result is busy and cannot run again: such a SQL gets a fresh one.
 */
export function cachingStatements<S extends { busy: boolean }>(db: PreparingDatabase<S>, max = 256): PreparingDatabase<S> {
  const cache = new Map<string, S>()
  return {
    prepare(sql: string): S {
      const hit = cache.get(sql)
      if (hit && !hit.busy) {
        cache.delete(sql) // re-insert: most recently used last
        cache.set(sql, hit)
        return hit
      }
      const stmt = db.prepare(sql)
      if (!hit) {
        cache.set(sql, stmt)
        if (cache.size > max) cache.delete(cache.keys().next().value!)
      }
      return stmt
    },
    close() {
      cache.clear()
      return db.close()
    },
  }
}
