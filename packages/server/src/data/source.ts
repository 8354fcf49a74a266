/** @module data/source — connect to a source database (read-only), check it, and read its catalog. */
import pg from 'pg'
import { AppError } from '../core/errors.js'
import { pgClientConfig, type SourceConn } from './source-url.js'

export interface SourceColumn {
  name: string
  /** format_type(), e.g. character varying(40). */
  type: string
  notNull: boolean
  /** GENERATED … STORED: not copied (the mirror computes it). */
  generated: boolean
  /** pg_type.typcategory: S string, N numeric, D date/time, I network, … */
  category: string
  /** Character limit of varchar(n)/char(n). */
  maxLength: number | undefined
}

export interface SourceFk {
  name: string
  columns: string[]
  refOid: number
  refColumns: string[]
}

export interface SourceTable {
  oid: number
  schema: string
  name: string
  /** r: table, p: partitioned table (its partitions are read and written through it). */
  relkind: 'r' | 'p'
  estimate: number
  bytes: number
  /** Row-level security filters what the source role reads: even a 100% sample may miss rows. */
  rls: boolean
  columns: SourceColumn[]
  primaryKey: string[] | undefined
  /** Column sets of unique constraints and unique indexes (the primary key included). */
  uniques: string[][]
  /** Outgoing foreign keys. */
  fks: SourceFk[]
}

export interface SourceCatalog {
  version: string
  major: number
  database: string
  collate: string
  ctype: string
  tables: SourceTable[]
  sequences: { schema: string; name: string; lastValue: string }[]
  matviews: { schema: string; name: string }[]
  /** Roles the schema names (row-level security policies): the mirror creates them, unable to log in. */
  roles: string[]
  bytes: number
}

const userSchema = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`
const notExtensionMember = (cls: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${cls}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`

/** Opens a client to the source; connection failures become errors that say what to fix. */
export async function connectSource(conn: SourceConn): Promise<pg.Client> {
  const client = new pg.Client(pgClientConfig(conn))
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => undefined) // closing: a connection that cannot close is already gone
    throw sourceError(err, conn)
  }
  return client
}

export interface SourceProbe {
  version: string
  major: number
  database: string
  tables: number
}

/** Checks a source can be mirrored: reachable, the database exists, and every table and schema is readable. */
export async function probeSource(conn: SourceConn): Promise<SourceProbe> {
  const client = await connectSource(conn)
  try {
    const v = await client.query<{ version: string; num: string; db: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num, current_database() AS db`,
    )
    const row = v.rows[0]!
    const denied = await client.query<{ what: string }>(
      `SELECT 'SELECT on table ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS what
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND ${userSchema} AND NOT has_table_privilege(c.oid, 'SELECT')
       UNION ALL
       SELECT 'USAGE on schema ' || quote_ident(n.nspname) FROM pg_namespace n
        WHERE ${userSchema} AND NOT has_schema_privilege(n.oid, 'USAGE')
       ORDER BY 1`,
    )
    if (denied.rows.length > 0) {
      const list = denied.rows.map((r) => r.what)
      throw new AppError(
        'invalid_request',
        `source role ${conn.user} lacks ${list.slice(0, 5).join(', ')}${list.length > 5 ? ` and ${list.length - 5} more` : ''}; grant read access (GRANT USAGE ON SCHEMA … ; GRANT SELECT ON ALL TABLES IN SCHEMA … TO ${conn.user}) or use a role that has it`,
        { reason: 'permission', missing: list },
      )
    }
    const tables = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${userSchema}`,
    )
    return { version: row.version.split(' ')[0]!, major: Math.floor(Number(row.num) / 10_000), database: row.db, tables: Number(tables.rows[0]!.n) }
  } catch (err) {
    throw err instanceof AppError ? err : sourceError(err, conn)
  } finally {
    await client.end().catch(() => undefined) // closing: a connection that cannot close is already gone
  }
}

/** Reads what a mirror build needs from the catalog, inside the caller's (snapshot) transaction. */
export async function readCatalog(client: pg.Client): Promise<SourceCatalog> {
  const info = (
    await client.query<{ version: string; num: string; db: string; collate: string; ctype: string; bytes: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num, d.datname AS db,
              d.datcollate AS collate, d.datctype AS ctype, pg_database_size(d.oid)::int8 AS bytes
         FROM pg_database d WHERE d.datname = current_database()`,
    )
  ).rows[0]!
  const tables = (
    await client.query<{ oid: string; schema: string; name: string; relkind: 'r' | 'p'; estimate: string; bytes: string; rls: boolean }>(
      `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind, row_security_active(c.oid) AS rls,
              greatest(c.reltuples, 0)::int8 AS estimate, pg_total_relation_size(c.oid)::int8 AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${userSchema} AND ${notExtensionMember('pg_class', 'c.oid')}
        ORDER BY n.nspname, c.relname`,
    )
  ).rows
  const oids = tables.map((t) => t.oid)
  const columns = (
    await client.query<{ rel: string; name: string; type: string; notnull: boolean; generated: boolean; category: string; maxlen: number | null }>(
      `SELECT a.attrelid::int8 AS rel, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
              a.attgenerated <> '' AS generated, t.typcategory AS category,
              CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS maxlen
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attrelid, a.attnum`,
      [oids],
    )
  ).rows
  const cons = (
    await client.query<{ rel: string; ref: string; type: string; name: string; cols: string[]; refcols: string[] | null }>(
      `SELECT c.conrelid::int8 AS rel, c.confrelid::int8 AS ref, c.contype AS type, c.conname AS name,
              (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS cols,
              (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS refcols
         FROM pg_constraint c
        WHERE c.contype IN ('p', 'u', 'f') AND c.conrelid = ANY($1::oid[]) AND c.conparentid = 0
        ORDER BY c.conrelid, c.conname`,
      [oids],
    )
  ).rows
  const uniqueIdx = (
    await client.query<{ rel: string; cols: string[] }>(
      `SELECT i.indrelid::int8 AS rel, array_agg(a.attname::text ORDER BY k.i) AS cols
         FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(n, i)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
        WHERE i.indisunique AND i.indpred IS NULL AND i.indrelid = ANY($1::oid[])
        GROUP BY i.indexrelid, i.indrelid`,
      [oids],
    )
  ).rows
  const sequences = (
    await client.query<{ schema: string; name: string; last: string }>(
      `SELECT schemaname AS schema, sequencename AS name, last_value::text AS last FROM pg_sequences s
        WHERE last_value IS NOT NULL AND schemaname NOT IN ('pg_catalog', 'information_schema')`,
    )
  ).rows
  const matviews = (await client.query<{ schema: string; name: string }>(`SELECT schemaname AS schema, matviewname AS name FROM pg_matviews WHERE ispopulated`)).rows
  const roles = (
    await client.query<{ name: string }>(`SELECT DISTINCT r.rolname::text AS name FROM pg_policy p CROSS JOIN LATERAL unnest(p.polroles) AS o(oid) JOIN pg_roles r ON r.oid = o.oid ORDER BY 1`)
  ).rows.map((r) => r.name)

  const byOid = new Map<number, SourceTable>()
  const result: SourceTable[] = tables.map((t) => {
    const table: SourceTable = {
      oid: Number(t.oid),
      schema: t.schema,
      name: t.name,
      relkind: t.relkind,
      estimate: Number(t.estimate),
      bytes: Number(t.bytes),
      rls: t.rls,
      columns: [],
      primaryKey: undefined,
      uniques: [],
      fks: [],
    }
    byOid.set(table.oid, table)
    return table
  })
  for (const c of columns) {
    byOid.get(Number(c.rel))?.columns.push({ name: c.name, type: c.type, notNull: c.notnull, generated: c.generated, category: c.category, maxLength: c.maxlen ?? undefined })
  }
  for (const c of cons) {
    const t = byOid.get(Number(c.rel))
    if (!t) continue
    if (c.type === 'p') t.primaryKey = c.cols
    if (c.type === 'p' || c.type === 'u') t.uniques.push(c.cols)
    if (c.type === 'f' && c.refcols && byOid.has(Number(c.ref))) t.fks.push({ name: c.name, columns: c.cols, refOid: Number(c.ref), refColumns: c.refcols })
  }
  for (const u of uniqueIdx) {
    const t = byOid.get(Number(u.rel))
    if (t && !t.uniques.some((cols) => cols.join('\0') === u.cols.join('\0'))) t.uniques.push(u.cols)
  }
  return {
    version: info.version.split(' ')[0]!,
    major: Math.floor(Number(info.num) / 10_000),
    database: info.db,
    collate: info.collate,
    ctype: info.ctype,
    tables: result,
    sequences: sequences.map((s) => ({ schema: s.schema, name: s.name, lastValue: s.last })),
    matviews,
    roles,
    bytes: Number(info.bytes),
  }
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOENT', 'ECONNRESET'])

/** Maps a connection or query failure against the source to an AppError that names the fix. */
export function sourceError(err: unknown, conn: SourceConn): AppError {
  if (err instanceof AppError) return err
  const e = err as { code?: string; message?: string }
  const where = conn.host.startsWith('/') ? `socket ${conn.host}/.s.PGSQL.${conn.port}` : `${conn.host}:${conn.port}`
  const msg = e.message ?? String(err)
  if ((e.code && unreachableCodes.has(e.code)) || /timeout|terminated unexpectedly|Connection terminated/i.test(msg)) {
    return new AppError('runtime_unavailable', `cannot reach source ${where} (${e.code ?? msg}): check the host and port, and that PostgreSQL accepts connections there`, { reason: 'unreachable' })
  }
  if (e.code === '28P01' || e.code === '28000') {
    return new AppError('invalid_request', `source ${where} refused role ${conn.user}: ${msg}; check the user and password in the URL`, { reason: 'auth' })
  }
  if (e.code === '3D000') return new AppError('invalid_request', `source ${where} has no database ${JSON.stringify(conn.database)}; check the database name in the URL`, { reason: 'database' })
  if (e.code === '42501') return new AppError('invalid_request', `source role ${conn.user} lacks a privilege: ${msg}; grant read access to the role`, { reason: 'permission' })
  return new AppError('internal', `source ${where}: ${msg}`, undefined, { cause: err })
}
