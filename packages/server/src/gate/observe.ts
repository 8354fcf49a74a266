/**
 * @module gate/observe — what a rehearsal and a promotion read from a database: the schema as a set of
 * lines, exact row counts, the transaction's own row changes and locks, and the fingerprint of a state.
 */
import { createHash } from 'node:crypto'
import type pg from 'pg'

/** The subset of a pg client the gate calls (a pool client or a plain client). */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>
}

const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'`

/**
 * The schema as sorted lines: tables, columns (type, null, default), indexes, constraints. Two states with
 * the same lines have the same shape; the diff of two sets of lines is the schema diff of the evidence.
 */
export async function schemaLines(db: Queryable): Promise<string[]> {
  const r = await db.query<{ line: string }>(`
    SELECT 'table ' || n.nspname || '.' || c.relname AS line
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm') AND ${userSchemas}
    UNION ALL
    SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND ${userSchemas}
    UNION ALL
    SELECT 'index ' || n.nspname || '.' || i.relname || ' ' || pg_get_indexdef(x.indexrelid)
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
     WHERE ${userSchemas}
    UNION ALL
    SELECT 'constraint ' || n.nspname || '.' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${userSchemas}
    ORDER BY 1`)
  return r.rows.map((x) => x.line)
}

/** The tables of the schema (schema.table), from its lines. */
export const tablesOf = (lines: readonly string[]): string[] => lines.filter((l) => l.startsWith('table ')).map((l) => l.slice('table '.length))

export const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`
/** `schema.table` as a quoted identifier pair (names come from the catalog or the parser, never raw input). */
export const quoteTable = (t: string): string => {
  const dot = t.indexOf('.')
  return `${quoteIdent(t.slice(0, dot))}.${quoteIdent(t.slice(dot + 1))}`
}

/** Exact row counts of the given tables (those that exist); views and missing tables are left out. */
export async function rowCounts(db: Queryable, tables: readonly string[], existing: ReadonlySet<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const wanted = [...new Set(tables)].filter((t) => existing.has(t)).sort()
  if (wanted.length === 0) return out
  const r = await db.query<{ t: string; n: string }>(wanted.map((t, i) => `SELECT $${i + 1}::text AS t, count(*)::text AS n FROM ${quoteTable(t)}`).join(' UNION ALL '), wanted)
  for (const row of r.rows) out.set(row.t, Number(row.n))
  return out
}

/** Base tables of the schema lines (what can be counted: views are left out). */
export async function baseTables(db: Queryable): Promise<Set<string>> {
  const r = await db.query<{ t: string }>(`SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND ${userSchemas}`)
  return new Set(r.rows.map((x) => x.t))
}

/** Rows this transaction inserted, updated and deleted per table (pg_stat_xact_user_tables: the transaction's own counts). */
export async function transactionChanges(db: Queryable): Promise<Map<string, { inserted: number; updated: number; deleted: number }>> {
  const r = await db.query<{ t: string; i: string; u: string; d: string }>(
    `SELECT schemaname || '.' || relname AS t, n_tup_ins::text AS i, n_tup_upd::text AS u, n_tup_del::text AS d FROM pg_stat_xact_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0`,
  )
  return new Map(r.rows.map((x) => [x.t, { inserted: Number(x.i), updated: Number(x.u), deleted: Number(x.d) }]))
}

/** Relation locks this backend holds (a transaction keeps them to its end), strongest first per table. */
export async function heldLocks(db: Queryable): Promise<{ table: string; mode: string }[]> {
  const r = await db.query<{ t: string; mode: string }>(
    `SELECT n.nspname || '.' || c.relname AS t, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation' AND c.relkind IN ('r', 'p', 'm') AND ${userSchemas} ORDER BY 1, 2`,
  )
  return r.rows.map((x) => ({ table: x.t, mode: x.mode }))
}

/** Non-null values of table.column (for DROP COLUMN: did it hold data?); undefined when the column does not exist. */
export async function nonNullValues(db: Queryable, column: string): Promise<number | undefined> {
  const cut = column.lastIndexOf('.')
  const table = column.slice(0, cut)
  const name = column.slice(cut + 1)
  const exists = await db.query(
    `SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = $1 AND a.attname = $2 AND NOT a.attisdropped`,
    [table, name],
  )
  if (exists.rowCount === 0) return undefined
  const r = await db.query<{ n: string }>(`SELECT count(${quoteIdent(name)})::text AS n FROM ${quoteTable(table)}`)
  return Number(r.rows[0]?.n ?? 0)
}

/** The fingerprint of a state: sha256 over the schema lines and the row counts of the tables named. */
export function fingerprint(schema: readonly string[], counts: ReadonlyMap<string, number>): string {
  const h = createHash('sha256')
  for (const l of schema) h.update(`${l}\n`)
  for (const [t, n] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) h.update(`rows ${t} ${n}\n`)
  return h.digest('hex')
}

/** The state of a database a rehearsal or promotion compares: its schema and the counts of the tables the artifact names. */
export async function stateOf(db: Queryable, tables: readonly string[]): Promise<{ schema: string[]; counts: Map<string, number>; fingerprint: string }> {
  const schema = await schemaLines(db)
  const counts = await rowCounts(db, tables, await baseTables(db))
  return { schema, counts, fingerprint: fingerprint(schema, counts) }
}

/** Lines only in `after` (added), only in `before` (removed), and columns whose definition changed. */
export function diffSchema(before: readonly string[], after: readonly string[]): { added: string[]; removed: string[]; changed: string[] } {
  const key = (l: string) => (l.startsWith('column ') ? l.split(' ').slice(0, 2).join(' ') : l)
  const b = new Map(before.map((l) => [key(l), l]))
  const a = new Map(after.map((l) => [key(l), l]))
  const added: string[] = []
  const removed: string[] = []
  const changed: string[] = []
  for (const [k, l] of a) {
    const old = b.get(k)
    if (old === undefined) added.push(l)
    else if (old !== l) changed.push(`${old} -> ${l.slice(k.length + 1)}`)
  }
  for (const [k, l] of b) if (!a.has(k)) removed.push(l)
  return { added, removed, changed }
}

/** The table (schema.table) a schema line is about: its own name, a column's or constraint's table, an index's ON table. */
export function tableOfLine(line: string): string | undefined {
  const [kind, name = ''] = line.split(' ', 2)
  if (kind === 'table') return name
  if (kind === 'column' || kind === 'constraint') return name.split('.').slice(0, 2).join('.')
  if (kind === 'index') {
    const on = line.indexOf(' ON ')
    if (on < 0) return undefined
    const rest = line.slice(on + 4).replace(/^ONLY /, '')
    return rest.slice(0, rest.indexOf(' ') < 0 ? rest.length : rest.indexOf(' '))
  }
  return undefined
}
