/**
 * @module gate/rehearse — one rehearsal: a fresh clone of the target's mirror, the artifact run on it with
 * the target's settings in one transaction, and what it did read back into an evidence bundle (hashed).
 */
import { createHash } from 'node:crypto'
import type { Principal } from '@tidepool/sdk'
import pg from 'pg'
import { canonicalJson } from '../audit/canonical-json.js'
import type { Classification } from './classify.js'
import { diffSchema, nonNullValues, stateOf, tableOfLine } from './observe.js'
import { runArtifact, type TargetSettings } from './run-artifact.js'
import type { GateData } from './seams.js'

export interface EvidenceBundle {
  hash: string
  cloneOf: string
  settings: TargetSettings & { roleApplied: boolean }
  artifactMs: number
  overheadMs: number
  error?: { message: string; code?: string; statement?: number }
  tables: { table: string; inserted: number; updated: number; deleted: number; rowsBefore: number; rowsAfter: number }[]
  rowsChanged: number
  schemaDiff: { added: string[]; removed: string[]; changed: string[] }
  droppedWithData: string[]
  locks: { table: string; mode: string; source: 'observed' | 'implied' }[]
  /** The target's fingerprint when the rehearsal began: a promotion refuses a target that no longer has it. */
  fingerprint: string
  /** How the mirror's schema differs from the target's (empty: same shape). */
  mirrorDrift: string[]
  at: string
}

/** sha256 of the bundle's canonical JSON (RFC 8785), its own hash field left out. */
export function evidenceHash(e: Omit<EvidenceBundle, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(e)).digest('hex')
}

export interface RehearsalInput {
  principal: Principal
  mirrorId: string
  targetUrl: string
  plan: Classification
  settings: TargetSettings
  cloneTtlSeconds: number
  now: () => string
  /** Takes the clone's removal to finish after the rehearsal returns (absent: the rehearsal waits for it). */
  background?: ((work: Promise<void>) => void) | undefined
}

/** Tables a fingerprint counts: every table the artifact names. */
export const countedTables = (plan: Classification): string[] => [...new Set(plan.statements.flatMap((s) => s.tables))].sort()

/** Connects with a short timeout and a name that shows in pg_stat_activity. */
export async function connect(url: string, name: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000, application_name: name })
  await c.connect()
  // An error event on an idle client (the server went away) must not crash the process.
  c.on('error', () => undefined)
  return c
}

/** The target's state now: read with a short-lived connection. */
export async function targetState(url: string, plan: Classification) {
  const c = await connect(url, 'tidepool-gate-fingerprint')
  try {
    return await stateOf(c, countedTables(plan))
  } finally {
    await c.end().catch(() => undefined)
  }
}

export async function rehearse(data: GateData, i: RehearsalInput): Promise<EvidenceBundle> {
  const t0 = performance.now()
  const tables = countedTables(i.plan)
  // The target's state and the clone are independent: read one while the other is made.
  const [targetRead, cloneMade] = await Promise.allSettled([targetState(i.targetUrl, i.plan), data.clone(i.principal, i.mirrorId, i.cloneTtlSeconds)])
  if (targetRead.status === 'rejected' || cloneMade.status === 'rejected') {
    if (cloneMade.status === 'fulfilled') await data.dropClone(i.principal, cloneMade.value.id)
    throw targetRead.status === 'rejected' ? targetRead.reason : (cloneMade as PromiseRejectedResult).reason
  }
  const target = targetRead.value
  const clone = cloneMade.value
  try {
    const db = await connect(clone.url, 'tidepool-gate-rehearsal')
    try {
      const before = await stateOf(db, tables)
      // Drift that matters: of the tables the artifact names (the rest of the schema may have moved on since the mirror was built).
      const named = new Set(tables)
      const relevant = (lines: string[]) => lines.filter((l) => named.has(tableOfLine(l) ?? ''))
      const drift = diffSchema(relevant(target.schema), relevant(before.schema))
      const mirrorDrift = [...drift.added.map((l) => `only in the mirror: ${l}`), ...drift.removed.map((l) => `only in the target: ${l}`), ...drift.changed.map((l) => `differs: ${l}`)]
      const columnData = new Map<string, number>()
      for (const s of i.plan.statements) for (const col of s.droppedColumns) columnData.set(col, (await nonNullValues(db, col)) ?? 0)
      let after = before
      const run = await runArtifact(db, i.plan, i.settings, {
        commit: true,
        beforeCommit: async () => {
          after = await stateOf(db, tables)
        },
      })
      const diff = diffSchema(before.schema, after.schema)
      const removedTables = new Set(diff.removed.filter((l) => l.startsWith('table ')).map((l) => l.slice('table '.length)))
      const droppedWithData = [
        ...[...removedTables].filter((t) => (before.counts.get(t) ?? 0) > 0).map((t) => `table ${t} (${before.counts.get(t)} rows)`),
        ...[...columnData].filter(([col, n]) => n > 0 && run.ok && !removedTables.has(col.slice(0, col.lastIndexOf('.')))).map(([col, n]) => `column ${col} (${n} values)`),
      ]
      const deltas = [...run.changes]
        .map(([table, c]) => {
          const rowsAfter = after.counts.get(table) ?? Math.max(0, (before.counts.get(table) ?? 0) + c.inserted - c.deleted)
          return { table, ...c, rowsBefore: before.counts.get(table) ?? rowsAfter - c.inserted + c.deleted, rowsAfter }
        })
        .sort((a, b) => (a.table < b.table ? -1 : 1))
      const observed = run.locks.map((l) => ({ ...l, source: 'observed' as const }))
      const implied = i.plan.statements.flatMap((s) => s.impliedLocks).filter((l) => !observed.some((o) => o.table === l.table && o.mode === l.mode))
      const locks = [...observed, ...dedupe(implied).map((l) => ({ ...l, source: 'implied' as const }))]
      const body: Omit<EvidenceBundle, 'hash'> = {
        cloneOf: i.mirrorId,
        settings: { ...i.settings, roleApplied: run.roleApplied },
        artifactMs: round(run.artifactMs),
        overheadMs: round(performance.now() - t0 - run.artifactMs),
        ...(run.error ? { error: run.error } : {}),
        tables: deltas,
        rowsChanged: deltas.reduce((n, d) => n + d.inserted + d.updated + d.deleted, 0),
        schemaDiff: run.ok ? diff : { added: [], removed: [], changed: [] },
        droppedWithData: run.ok ? droppedWithData : [],
        locks,
        fingerprint: target.fingerprint,
        mirrorDrift,
        at: i.now(),
      }
      return { hash: evidenceHash(body), ...body }
    } finally {
      await db.end().catch(() => undefined)
    }
  } finally {
    // The evidence is complete: the clone goes after the answer (its TTL covers a crash before it is gone).
    const dropping = data.dropClone(i.principal, clone.id)
    if (i.background) i.background(dropping)
    else await dropping
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100

function dedupe(locks: { table: string; mode: string }[]): { table: string; mode: string }[] {
  const seen = new Set<string>()
  return locks.filter((l) => {
    const k = `${l.table} ${l.mode}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}
