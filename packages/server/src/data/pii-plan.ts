/**
 * @module data/pii-plan — which columns a mirror build scans by content (pure), the name book learned from
 * the masked name columns' own values (one bounded query per column, in the build's snapshot), the per
 * column tallies and the masking report built from them (the same for a dry run and a build).
 */
import type { MaskingReport, MaskKind } from '@tidepool/sdk'
import type pg from 'pg'
import type { MaskPlan, ResolvedMasking } from './masking.js'
import { qualified, quoteIdent } from './pg-admin.js'
import { nameWords, piiKinds, type NameBook } from './pii-detect.js'
import { zeroCounts, type ContentMasker, type PiiCounts } from './pii-mask.js'
import type { SourceColumn, SourceTable } from './source.js'

/** What happens to one column. */
export type ColumnDecision = { column: SourceColumn; by: 'name'; rule: MaskKind } | { column: SourceColumn; by: 'scan'; json: boolean } | { column: SourceColumn; by: 'none'; reason: string }

/** Per table oid, every stored column in order. */
export type ContentPlan = Map<number, ColumnDecision[]>

const isJson = (c: SourceColumn) => c.type === 'json' || c.type === 'jsonb'

/**
 * Decides, column by column: masked by a rule (name), scanned by content, or left as is and why. Key
 * columns (primary key, unique, foreign key) are not scanned: a fake spliced into a key could collide
 * or break a reference, and keys that hold personal data are masked by their names.
 */
export function planContent(tables: SourceTable[], resolved: ResolvedMasking, content: boolean): ContentPlan {
  const out: ContentPlan = new Map()
  for (const t of tables) {
    const rules = resolved.plan.get(t.oid)
    const kept = resolved.kept.get(t.oid)
    const keys = new Set([...(t.primaryKey ?? []), ...t.uniques.flat(), ...t.fks.flatMap((f) => f.columns)])
    const decisions: ColumnDecision[] = []
    for (const column of t.columns) {
      if (column.generated) continue
      const rule = rules?.get(column.name)
      if (rule) decisions.push({ column, by: 'name', rule })
      else if (column.category !== 'S' && !isJson(column)) decisions.push({ column, by: 'none', reason: 'not text or JSON' })
      else if (kept?.has(column.name)) decisions.push({ column, by: 'none', reason: 'an explicit keep rule' })
      else if (!content) decisions.push({ column, by: 'none', reason: 'content scanning off' })
      else if (keys.has(column.name)) decisions.push({ column, by: 'none', reason: 'a key column (primary, unique or foreign key): not scanned' })
      else decisions.push({ column, by: 'scan', json: isJson(column) })
    }
    out.set(t.oid, decisions)
  }
  return out
}

/** Masked name columns (rule first_name, last_name or name): their values teach the name detector. */
export function nameColumns(tables: SourceTable[], plan: MaskPlan): { table: SourceTable; column: string; rule: MaskKind }[] {
  const out: { table: SourceTable; column: string; rule: MaskKind }[] = []
  for (const t of tables) {
    for (const [column, rule] of plan.get(t.oid) ?? []) if (rule === 'first_name' || rule === 'last_name' || rule === 'name') out.push({ table: t, column, rule })
  }
  return out
}

/** Values read per name column, and words kept in all: bounds on the name book's memory and the query's cost. */
export const nameLimits = { valuesPerColumn: 100_000, words: 200_000 }

/**
 * Learns the name book from the source: distinct values among the first `valuesPerColumn` non-NULL ones of
 * each masked name column (read in the caller's transaction, so the build's snapshot). A full name gives
 * its first word as a given name, the others as family names.
 */
export async function learnNames(client: pg.Client, cols: ReturnType<typeof nameColumns>, limits = nameLimits): Promise<Map<string, 'first' | 'last'>> {
  const book = new Map<string, 'first' | 'last'>()
  for (const c of cols) {
    const col = quoteIdent(c.column)
    const from = `${c.table.relkind === 'r' ? 'ONLY ' : ''}${qualified(c.table.schema, c.table.name)}`
    const r = await client.query<{ v: string }>(`SELECT DISTINCT v FROM (SELECT ${col}::text AS v FROM ${from} WHERE ${col} IS NOT NULL LIMIT ${limits.valuesPerColumn}) s`)
    for (const { v } of r.rows) {
      nameWords(v).forEach((w, i) => {
        if (book.size >= limits.words || book.has(w)) return
        book.set(w, c.rule === 'last_name' || (c.rule === 'name' && i > 0) ? 'last' : 'first')
      })
    }
  }
  return book
}

export interface ColumnTally {
  scanned: number
  masked: number
  found: PiiCounts
}
export const newTally = (): ColumnTally => ({ scanned: 0, masked: 0, found: zeroCounts() })

/** Masks one non-NULL value of a scanned column and counts what it found. */
export function scanValue(masker: ContentMasker, value: string, json: boolean, tally: ColumnTally, maxLength?: number): string {
  tally.scanned++
  let out = json ? masker.maskJson(value, tally.found) : masker.maskText(value, tally.found)
  if (out === value) return value
  tally.masked++
  // A fake longer than the original must still fit varchar(n): cut it (the cut part holds no original data).
  if (maxLength !== undefined && out.length > maxLength) out = out.slice(0, maxLength)
  return out
}

export interface ReportInput {
  dryRun: boolean
  content: boolean
  tables: SourceTable[]
  plan: ContentPlan
  /** Per table oid, column → tally (scanned columns only). */
  tallies: Map<number, Map<string, ColumnTally>>
  rows: Map<number, number>
  names: { columns: ReturnType<typeof nameColumns>; book: NameBook }
  warnings: string[]
}

export function maskingReport(i: ReportInput): MaskingReport {
  const total = zeroCounts()
  const tables = i.tables.map((t) => ({
    table: `${t.schema}.${t.name}`,
    rows: i.rows.get(t.oid) ?? 0,
    columns: (i.plan.get(t.oid) ?? []).map((d) => {
      const base = { column: d.column.name, type: d.column.type }
      if (d.by === 'name') return { ...base, masking: 'name' as const, rule: d.rule }
      if (d.by === 'none') return { ...base, masking: 'none' as const, reason: d.reason }
      const tally = i.tallies.get(t.oid)?.get(d.column.name) ?? newTally()
      for (const k of piiKinds) total[k] += tally.found[k]
      const counts = { scanned: tally.scanned, masked: tally.masked, found: tally.found }
      return tally.masked > 0 ? { ...base, masking: 'content' as const, ...counts } : { ...base, masking: 'none' as const, ...counts, reason: 'scanned by content: nothing found' }
    }),
  }))
  return {
    dryRun: i.dryRun,
    content: i.content,
    nameColumns: i.names.columns.map((c) => `${c.table.schema}.${c.table.name}.${c.column}`),
    namesLearned: i.names.book.size,
    tables,
    found: total,
    warnings: i.warnings,
  }
}
