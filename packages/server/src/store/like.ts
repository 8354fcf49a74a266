/** @module store/like — `LIKE` patterns built from user input, so that `%` and `_` in it match literally. */
import { sql, type RawBuilder } from 'kysely'

/** Escapes LIKE's wildcards (`%`, `_`) and the escape character itself with a backslash. */
export function escapeLike(text: string): string {
  return text.replace(/[%_\\]/g, (c) => `\\${c}`)
}

/**
 * The right-hand side of `column LIKE …` that matches values containing `text` as is, on SQLite and
 * PostgreSQL alike (both need the `ESCAPE` clause: neither escapes by default in the same way).
 */
export function containing(text: string): RawBuilder<string> {
  return sql<string>`${`%${escapeLike(text)}%`} escape '\\'`
}
