/**
 * @module actions/db-query — `db.query`: one read-only SQL statement against an ephemeral database clone
 * (named, or the one bound to the sandbox). Read-only for real: the statement runs inside BEGIN READ ONLY
 * with a statement timeout, always rolled back, and through the extended protocol, which takes exactly
 * one statement — `COMMIT; DELETE …` is refused by PostgreSQL itself. The statement is wrapped as a
 * subquery with a LIMIT, so a huge result is never read into memory (so: SELECT, WITH, VALUES, TABLE).
 */
import pg from 'pg'
import { z } from 'zod'
import { AppError } from '../core/errors.js'
import { defineAction } from './action.js'

const maxRowsLimit = 1000
const Param = z.union([z.string().max(65_536), z.number(), z.boolean(), z.null()])

export const dbQuery = defineAction({
  name: 'db.query',
  summary: 'One read-only SQL statement against a clone (by id, or the one bound to the sandbox); rows as arrays, in the order the query gives',
  needsSandbox: false,
  readOnly: true,
  requires: 'data:read',
  timeoutMs: 60_000,
  input: z
    .object({
      cloneId: z.string().max(64).optional().describe('The clone (dcl_…); default: the clone bound to sandboxId.'),
      sql: z.string().min(1).max(65_536).describe('One SELECT / WITH / VALUES / TABLE statement; add ORDER BY for a stable row order.'),
      params: z.array(Param).max(100).default([]).describe('Values for $1, $2, …'),
      maxRows: z.number().int().min(1).max(maxRowsLimit).default(100),
    })
    .strict(),
  output: z.object({ fields: z.array(z.string()), rows: z.array(z.array(z.unknown())), rowCount: z.number().int(), truncated: z.boolean() }),
  run: async (i, env) => {
    const client = new pg.Client({ connectionString: await env.cloneUrl(i.cloneId), connectionTimeoutMillis: Math.max(1, Math.min(10_000, Math.floor(env.remainingMs()))) })
    await client.connect()
    try {
      await client.query('BEGIN TRANSACTION READ ONLY')
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(env.remainingMs()))}`)
      let r: pg.QueryArrayResult
      try {
        // queryMode 'extended' always (pg would use the simple protocol, which runs several statements,
        // when there are no values): PostgreSQL then takes exactly one statement, so nothing can COMMIT the
        // read-only transaction away.
        const text = `SELECT * FROM (${withoutTrailingSemicolons(i.sql)}) AS tidepool_query LIMIT ${i.maxRows + 1}`
        r = await client.query({ text, values: i.params, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig)
        if (!Array.isArray(r.rows)) throw new AppError('invalid_request', 'sql: one statement only')
      } catch (err) {
        const e = err as Error & { code?: string }
        throw new AppError('invalid_request', `sql: ${e.message}${e.code ? ` (SQLSTATE ${e.code})` : ''}`, [{ path: 'input.sql', message: e.message }])
      }
      const rows = r.rows.slice(0, i.maxRows).map((row) => row.map(jsonOf))
      return { ok: true, output: { fields: r.fields.map((f) => f.name), rows, rowCount: rows.length, truncated: r.rows.length > i.maxRows } }
    } finally {
      await client.query('ROLLBACK').catch(() => {})
      await client.end().catch(() => {})
    }
  },
})

/** The SQL without the `;` and blanks it may end with (a loop, no regex on input). */
function withoutTrailingSemicolons(sql: string): string {
  let end = sql.length
  while (end > 0 && (sql[end - 1] === ';' || sql[end - 1] === ' ' || sql[end - 1] === '\n' || sql[end - 1] === '\t' || sql[end - 1] === '\r')) end--
  return sql.slice(0, end)
}

/** A column value as JSON: dates as ISO strings, bytes as base64, int8/numeric stay the strings pg gives. */
function jsonOf(v: unknown): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString()
  if (Buffer.isBuffer(v)) return v.toString('base64')
  return v
}
