/**
 * @module data/sampler — the sample plan and its foreign-key closure.
 *
 * Every table gets a seed (a repeatable Bernoulli sample, capped); then, round by round, every row whose
 * foreign key points at a row not yet in the mirror pulls that row in (self-references and chains of any
 * length resolve the same way) until nothing is missing. Keys are tracked with their *source* values, so
 * masking (applied to each row on its way through) never gets in the way of the closure.
 */
import type { MaskKind } from '@tidepool/sdk'
import { decodeField, encodeField, NULL_FIELD, arrayElement } from './copy-text.js'
import { maskValue, type MaskPlan } from './masking.js'
import type { ContentMasker } from './pii-mask.js'
import { newTally, scanValue, type ColumnTally, type ContentPlan } from './pii-plan.js'
import { qualified, quoteIdent } from './pg-admin.js'
import type { SourceColumn, SourceTable } from './source.js'

export interface SampleInput {
  percent: number
  maxRows?: number | undefined
  perTable: Record<string, { percent?: number | undefined; maxRows?: number | undefined; skip?: boolean | undefined }>
  seed: number
}

interface KeySet {
  columns: string[]
  index: number[]
  /** Source keys (COPY fields joined by tab) of rows already in the mirror. */
  seen: Set<string>
  /** Keys referenced by rows in the mirror; those not in `seen` are still to fetch. */
  wanted: Set<string>
}

interface OutgoingFk {
  name: string
  index: number[]
  parent: TablePlan
  keyset: KeySet
}

export interface TablePlan {
  table: SourceTable
  /** schema.table */
  key: string
  columns: SourceColumn[]
  seed: { percent: number; maxRows: number | undefined; skip: boolean }
  /** Every row is copied (and none hidden by row-level security): nothing can be missing, so no keys are tracked. */
  complete: boolean
  masks: { index: number; rule: MaskKind; unique: boolean; maxLength: number | undefined }[]
  /** Columns scanned by content, with what was found in them so far. */
  scans: { index: number; json: boolean; maxLength: number | undefined; tally: ColumnTally }[]
  keysets: KeySet[]
  fks: OutgoingFk[]
  sampled: number
  added: number
}

/** A batch of keys to fetch from one table. */
export interface Fetch {
  plan: TablePlan
  keyset: KeySet
  keys: string[]
}

export class Sampler {
  readonly tables: TablePlan[]
  readonly #salt: string
  readonly #masker: ContentMasker | undefined

  /** `content`: which columns to scan by content and the masker to use (none: masking by column names only). */
  constructor(tables: SourceTable[], sample: SampleInput, masks: MaskPlan, salt: string, content?: { plan: ContentPlan; masker: ContentMasker }) {
    this.#salt = salt
    this.#masker = content?.masker
    const byOid = new Map<number, TablePlan>()
    this.tables = tables.map((t) => {
      const key = `${t.schema}.${t.name}`
      const o = sample.perTable[key] ?? (t.schema === 'public' ? sample.perTable[t.name] : undefined) ?? {}
      const percent = o.percent ?? sample.percent
      const maxRows = o.maxRows ?? sample.maxRows
      const skip = o.skip ?? false
      const columns = t.columns.filter((c) => !c.generated)
      const uniqueCols = new Set(t.uniques.flat())
      const m = masks.get(t.oid) ?? new Map<string, MaskKind>()
      const plan: TablePlan = {
        table: t,
        key,
        columns,
        seed: { percent, maxRows, skip },
        complete: !skip && percent >= 100 && maxRows === undefined && !t.rls,
        masks: columns.flatMap((c, index) => {
          const rule = m.get(c.name)
          return rule ? [{ index, rule, unique: uniqueCols.has(c.name), maxLength: c.maxLength }] : []
        }),
        scans: (content?.plan.get(t.oid) ?? []).flatMap((d) =>
          d.by === 'scan' ? [{ index: columns.findIndex((c) => c.name === d.column.name), json: d.json, maxLength: d.column.maxLength, tally: newTally() }] : [],
        ),
        keysets: [],
        fks: [],
        sampled: 0,
        added: 0,
      }
      byOid.set(t.oid, plan)
      return plan
    })
    const keysetOf = (p: TablePlan, cols: string[]): KeySet => {
      let ks = p.keysets.find((k) => k.columns.join('\0') === cols.join('\0'))
      if (!ks) {
        ks = { columns: cols, index: cols.map((c) => p.columns.findIndex((x) => x.name === c)), seen: new Set(), wanted: new Set() }
        p.keysets.push(ks)
      }
      return ks
    }
    for (const p of this.tables) {
      if (p.complete) continue
      // The primary key identifies rows, so a row reached twice (through two keys) is copied once.
      if (p.table.primaryKey) keysetOf(p, p.table.primaryKey)
    }
    for (const child of this.tables) {
      for (const fk of child.table.fks) {
        const parent = byOid.get(fk.refOid)
        if (!parent || parent.complete) continue
        child.fks.push({ name: fk.name, index: fk.columns.map((c) => child.columns.findIndex((x) => x.name === c)), parent, keyset: keysetOf(parent, fk.refColumns) })
      }
    }
    for (const p of this.tables) {
      if ([...p.keysets.flatMap((k) => k.index), ...p.fks.flatMap((f) => f.index)].some((i) => i < 0)) {
        throw new Error(`table ${p.key}: a key column is a generated column; such keys cannot be sampled`)
      }
    }
  }

  /** The SELECT list: every stored (non-generated) column, in order. */
  selectList(p: TablePlan): string {
    return p.columns.map((c) => quoteIdent(c.name)).join(', ')
  }

  /** `COPY (seed query) TO STDOUT`, or undefined when the table's seed is empty. */
  seedCopy(p: TablePlan, seed: number): string | undefined {
    const { percent, maxRows, skip } = p.seed
    if (skip || maxRows === 0) return undefined
    const from = `${p.table.relkind === 'r' ? 'ONLY ' : ''}${qualified(p.table.schema, p.table.name)}`
    const sample = percent >= 100 ? '' : ` TABLESAMPLE BERNOULLI (${percent}) REPEATABLE (${seed})`
    const limit = maxRows !== undefined ? ` LIMIT ${maxRows}` : ''
    return `COPY (SELECT ${this.selectList(p)} FROM ${from}${sample}${limit}) TO STDOUT`
  }

  /** `COPY (rows with these keys) TO STDOUT` for a batch of missing keys. */
  fetchCopy(f: Fetch): string {
    const p = f.plan
    const from = `${p.table.relkind === 'r' ? 'ONLY ' : ''}${qualified(p.table.schema, p.table.name)}`
    const cols = f.keyset.columns
    const arrays = cols.map((c, i) => {
      const type = p.columns.find((x) => x.name === c)!.type
      const elems = f.keys.map((k) => arrayElement(decodeField(k.split('\t')[i]!) ?? ''))
      return `'{${elems.join(',').replace(/'/g, "''")}}'::${type}[]`
    })
    return `COPY (SELECT ${this.selectList(p)} FROM ${from} WHERE (${cols.map(quoteIdent).join(', ')}) IN (SELECT * FROM unnest(${arrays.join(', ')}))) TO STDOUT`
  }

  /**
   * One source row (a COPY line) on its way into the mirror: records its keys, notes the rows it
   * references, and masks it. Returns the line to write, or undefined when the row is already there.
   */
  take(p: TablePlan, line: string, phase: 'seed' | 'closure'): string | undefined {
    const f = line.split('\t')
    if (phase === 'closure') {
      for (const ks of p.keysets) {
        const k = keyOf(f, ks.index)
        if (k !== undefined && ks.seen.has(k)) return undefined
      }
    }
    for (const ks of p.keysets) {
      const k = keyOf(f, ks.index)
      if (k !== undefined) ks.seen.add(k)
    }
    for (const fk of p.fks) {
      const k = keyOf(f, fk.index)
      if (k !== undefined && !fk.keyset.seen.has(k)) fk.keyset.wanted.add(k)
    }
    for (const m of p.masks) {
      f[m.index] = encodeField(maskValue(m.rule, decodeField(f[m.index]!), this.#salt, m))
    }
    let changed = p.masks.length > 0
    for (const sc of p.scans) {
      const raw = f[sc.index]!
      if (raw === NULL_FIELD) continue
      const value = decodeField(raw)!
      const masked = scanValue(this.#masker!, value, sc.json, sc.tally, sc.maxLength)
      if (masked !== value) {
        f[sc.index] = encodeField(masked)
        changed = true
      }
    }
    if (phase === 'seed') p.sampled++
    else p.added++
    return changed ? f.join('\t') : line
  }

  /** Rows of this table need no look at all: no keys tracked, no foreign keys to follow, nothing masked. */
  untouched(p: TablePlan): boolean {
    return p.keysets.length === 0 && p.fks.length === 0 && p.masks.length === 0 && p.scans.length === 0
  }

  /** Counts rows that streamed through untouched. */
  count(p: TablePlan, rows: number, phase: 'seed' | 'closure'): void {
    if (phase === 'seed') p.sampled += rows
    else p.added += rows
  }

  /** Keys still missing, in batches; empty when the sample is referentially whole. */
  missing(batch = 2000): Fetch[] {
    const out: Fetch[] = []
    for (const p of this.tables) {
      for (const ks of p.keysets) {
        const keys = [...ks.wanted].filter((k) => !ks.seen.has(k))
        ks.wanted.clear()
        for (let i = 0; i < keys.length; i += batch) out.push({ plan: p, keyset: ks, keys: keys.slice(i, i + batch) })
      }
    }
    return out
  }

  /** Keys of a fetched batch the source did not return (hidden by row-level security, or a broken source FK). */
  unresolved(f: Fetch): string[] {
    return f.keys.filter((k) => !f.keyset.seen.has(k))
  }
}

/** The key of a row (its COPY fields joined by tab), or undefined when any part is NULL (MATCH SIMPLE: no reference). */
function keyOf(fields: string[], index: number[]): string | undefined {
  if (index.length === 1) {
    const v = fields[index[0]!]!
    return v === NULL_FIELD ? undefined : v
  }
  const parts: string[] = []
  for (const i of index) {
    const v = fields[i]!
    if (v === NULL_FIELD) return undefined
    parts.push(v)
  }
  return parts.join('\t')
}
