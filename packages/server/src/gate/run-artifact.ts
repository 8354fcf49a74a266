/**
 * @module gate/run-artifact — runs an artifact's statements in one transaction with the target's
 * settings, and reads what the transaction did before it ends: rows per table, locks held, the schema.
 * The same runner serves a rehearsal (on a clone) and a promotion (on the target).
 */
import type { Classification } from './classify.js'
import { heldLocks, quoteIdent, transactionChanges, type Queryable } from './observe.js'

export interface TargetSettings {
  lockTimeoutMs: number
  statementTimeoutMs: number
  role?: string | undefined
}

export interface RunOutcome {
  ok: boolean
  error?: { message: string; code?: string; statement?: number }
  artifactMs: number
  changes: Map<string, { inserted: number; updated: number; deleted: number }>
  locks: { table: string; mode: string }[]
  /** The role was applied (false: the database has no such role, or the login may not SET ROLE to it). */
  roleApplied: boolean
}

export interface RunHooks {
  /** Inside the transaction, before the first statement: e.g. the promotion records its transaction id. */
  begun?: (xid: string) => Promise<void>
  /** Inside the transaction, after the last statement and before COMMIT: observe the new state. */
  beforeCommit?: () => Promise<void>
  /** Commit (true) or roll back (false) a transaction that ran cleanly. */
  commit: boolean
  /** Run read-only (a read-only artifact's promotion: a write slipped in fails). */
  readOnly?: boolean
}

const pgError = (err: unknown): { message: string; code?: string } => {
  const e = err as { message?: string; code?: string }
  return { message: String(e.message ?? err), ...(typeof e.code === 'string' ? { code: e.code } : {}) }
}

/** Runs the statements of `plan` in one transaction on `db`; never throws for an error of the SQL itself. */
export async function runArtifact(db: Queryable, plan: Classification, settings: TargetSettings, hooks: RunHooks): Promise<RunOutcome> {
  const out: RunOutcome = { ok: false, artifactMs: 0, changes: new Map(), locks: [], roleApplied: false }
  await db.query(hooks.readOnly ? 'BEGIN READ ONLY' : 'BEGIN')
  try {
    await db.query(`SET LOCAL lock_timeout = ${Math.trunc(settings.lockTimeoutMs)}`)
    await db.query(`SET LOCAL statement_timeout = ${Math.trunc(settings.statementTimeoutMs)}`)
    if (settings.role) {
      await db.query('SAVEPOINT tidepool_role')
      try {
        await db.query(`SET LOCAL ROLE ${quoteIdent(settings.role)}`)
        await db.query('RELEASE SAVEPOINT tidepool_role')
        out.roleApplied = true
      } catch {
        await db.query('ROLLBACK TO SAVEPOINT tidepool_role')
      }
    }
    const xid = (await db.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x
    await hooks.begun?.(xid)
    const t0 = performance.now()
    for (const s of plan.statements) {
      try {
        await db.query(s.sql)
      } catch (err) {
        out.error = { ...pgError(err), statement: s.index + 1 }
        break
      }
    }
    out.artifactMs = performance.now() - t0
    if (out.error) {
      await db.query('ROLLBACK')
      return out
    }
    if (out.roleApplied) await db.query('RESET ROLE')
    out.changes = await transactionChanges(db)
    out.locks = await heldLocks(db)
    await hooks.beforeCommit?.()
    if (!hooks.commit) {
      await db.query('ROLLBACK')
      out.ok = true
      return out
    }
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined)
    throw err
  }
  try {
    // Deferred constraints are checked here: a COMMIT that fails is the artifact's error too.
    await db.query('COMMIT')
    out.ok = true
  } catch (err) {
    out.error = pgError(err)
  }
  return out
}
