/** @module data/masking — which columns get masked how (pure), and the deterministic maskers applied to each value. */
import { createHmac } from 'node:crypto'
import type { MaskKind } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import { firstNames, lastNames } from './fake-names.js'
import type { SourceColumn, SourceTable } from './source.js'

export interface MaskingInput {
  defaults: boolean
  /** Scan unmasked text and JSON columns by content (default true). */
  content?: boolean | undefined
  rules: { column: string; rule: MaskKind }[]
}

/** Per table oid: column → rule (only columns that change; `keep` never appears). */
export type MaskPlan = Map<number, Map<string, MaskKind>>

export interface ResolvedMasking {
  plan: MaskPlan
  /** Per table oid: columns an explicit `keep` rule names (content scanning leaves them alone too). */
  kept: Map<number, Set<string>>
  warnings: string[]
}

interface Choice {
  rule: MaskKind
  explicit: boolean
}

/** Built-in rules by column name. `name` alone counts only in tables that hold people. */
const defaultRules: { test: (col: string, table: string) => boolean; rule: MaskKind }[] = [
  { test: (c) => /e[-_]?mail/.test(c), rule: 'email' },
  { test: (c) => /^(first|given|fore)_?name$|^fname$/.test(c), rule: 'first_name' },
  { test: (c) => /^(last|family|sur)_?name$|^lname$/.test(c), rule: 'last_name' },
  { test: (c) => /^(full|display|contact|customer|person|legal|real)_?name$/.test(c), rule: 'name' },
  { test: (c, t) => c === 'name' && /user|customer|person|people|employee|contact|member|patient|client|account|author|staff/.test(t), rule: 'name' },
  { test: (c) => /^(user_?name|login|handle|nickname)$/.test(c), rule: 'hash' },
  { test: (c) => /phone|mobile|^tel$|telephone|^fax$/.test(c), rule: 'phone' },
  { test: (c) => /address|street|^addr/.test(c) && !/ip_?addr|mac_?addr|e[-_]?mail/.test(c), rule: 'redact' },
  { test: (c) => /ssn|social_?security|national_?id|passport|tax_?id|iban|card_?number|credit_?card|^pan$/.test(c), rule: 'hash' },
  { test: (c) => /password|passwd|secret|api_?key|token/.test(c), rule: 'hash' },
  { test: (c) => /birth|^dob$/.test(c), rule: 'null' },
  { test: (c) => /^ip$|ip_?addr|^last_ip|^remote_ip/.test(c), rule: 'null' },
]

const isText = (c: SourceColumn) => c.category === 'S'

/** Turns a column pattern (`col`, `table.col`, `schema.table.col`, with * wildcards) into a matcher. */
function matcher(pattern: string): (schema: string, table: string, column: string) => boolean {
  const parts = pattern.toLowerCase().split('.')
  const re = (p: string) => ({ test: (name: string) => globMatch(p, name) })
  const [s, t, c] = parts.length === 3 ? parts.map(re) : parts.length === 2 ? [undefined, re(parts[0]!), re(parts[1]!)] : [undefined, undefined, re(parts[0]!)]
  return (schema, table, column) => (!s || s.test(schema.toLowerCase())) && (!t || t.test(table.toLowerCase())) && c!.test(column.toLowerCase())
}

/**
 * Whether `text` matches `glob` whole, `*` matching any run of characters. A scan, not a RegExp built from
 * the rule: `^a.*a.*a.*b$` backtracks polynomially in the number of stars; this resumes after the last
 * star instead, so it costs at most |glob|·|text| (both bounded: rules by the contract, names by PostgreSQL).
 */
export function globMatch(glob: string, text: string): boolean {
  let g = 0
  let t = 0
  let star = -1 // index in glob just after the last `*` seen
  let resume = 0 // where in text that star's run would end next
  while (t < text.length) {
    if (g < glob.length && glob[g] === '*') {
      star = ++g
      resume = t
    } else if (g < glob.length && glob[g] === text[t]) {
      g++
      t++
    } else if (star >= 0) {
      g = star
      t = ++resume
    } else return false
  }
  while (g < glob.length && glob[g] === '*') g++
  return g === glob.length
}

/**
 * Decides the rule of every column: explicit rules first (first match wins), then defaults. Checks each
 * rule fits its column (type, NOT NULL, uniqueness) and that both ends of every foreign key are masked
 * alike (a key masked one way in the child and another in the parent would break the reference).
 * Defaults adapt (a NOT NULL column gets redact, a unique one hash; a child key follows its parent);
 * explicit rules that cannot work are refused with invalid_request naming the column.
 */
export function resolveMasking(tables: SourceTable[], spec: MaskingInput): ResolvedMasking {
  const rules = spec.rules.map((r) => ({ ...r, match: matcher(r.column), used: false }))
  const choices = new Map<number, Map<string, Choice>>()
  const problems: string[] = []
  const warnings: string[] = []
  const byOid = new Map(tables.map((t) => [t.oid, t]))
  const kept = new Map<number, Set<string>>()

  for (const t of tables) {
    const m = new Map<string, Choice>()
    const uniqueCols = new Set(t.uniques.flat())
    for (const col of t.columns) {
      if (col.generated) continue
      const explicit = rules.find((r) => r.match(t.schema, t.name, col.name))
      const where = `${t.schema}.${t.name}.${col.name}`
      if (explicit) {
        explicit.used = true
        if (explicit.rule === 'keep') {
          kept.set(t.oid, (kept.get(t.oid) ?? new Set()).add(col.name))
          continue
        }
        if (explicit.rule !== 'null' && !isText(col)) problems.push(`${where} is ${col.type}; rule ${explicit.rule} applies to text columns only (use null, or keep)`)
        else if (explicit.rule === 'null' && col.notNull) problems.push(`${where} is NOT NULL; rule null cannot apply (use hash or redact)`)
        else if ((explicit.rule === 'null' || explicit.rule === 'redact') && uniqueCols.has(col.name)) problems.push(`${where} is unique; rule ${explicit.rule} would collide (use hash or a fake)`)
        else m.set(col.name, { rule: explicit.rule, explicit: true })
        continue
      }
      if (!spec.defaults) continue
      const d = defaultRules.find((r) => r.test(col.name.toLowerCase(), t.name.toLowerCase()))
      if (!d) continue
      let rule = d.rule
      if (rule === 'null' && col.notNull) rule = isText(col) ? 'redact' : 'keep'
      if (rule !== 'null' && !isText(col)) rule = col.notNull ? 'keep' : 'null'
      if ((rule === 'null' || rule === 'redact') && uniqueCols.has(col.name)) rule = isText(col) ? 'hash' : 'keep'
      if (rule === 'keep') {
        warnings.push(`${where} looks personal but no default rule fits its type ${col.type}; add an explicit rule to mask it`)
        continue
      }
      m.set(col.name, { rule, explicit: false })
    }
    choices.set(t.oid, m)
  }
  for (const r of rules) if (!r.used) warnings.push(`masking rule ${JSON.stringify(r.column)} matched no column`)

  // Foreign keys: the child's key columns must be masked exactly like the parent's. Defaults follow the parent.
  for (let changed = true, rounds = 0; changed && rounds < 50; rounds++) {
    changed = false
    for (const t of tables) {
      for (const fk of t.fks) {
        const parent = byOid.get(fk.refOid)
        if (!parent) continue
        fk.columns.forEach((col, i) => {
          const pc = fk.refColumns[i]!
          const mine = choices.get(t.oid)!.get(col)
          const theirs = choices.get(parent.oid)!.get(pc)
          if (mine?.rule === theirs?.rule) return
          const where = `${t.schema}.${t.name}.${col}`
          if (mine?.explicit) {
            const p = `${where} (${mine.rule}) references ${parent.schema}.${parent.name}.${pc} (${theirs?.rule ?? 'unmasked'}) through ${fk.name}; mask both with the same rule`
            if (!problems.includes(p)) problems.push(p)
            return
          }
          if (theirs) choices.get(t.oid)!.set(col, { rule: theirs.rule, explicit: false })
          else choices.get(t.oid)!.delete(col)
          changed = true
        })
      }
    }
  }
  if (problems.length > 0) {
    throw new AppError(
      'invalid_request',
      `masking: ${problems.join('; ')}`,
      problems.map((p) => ({ path: 'masking.rules', message: p })),
    )
  }
  const plan: MaskPlan = new Map()
  for (const [oid, m] of choices) if (m.size > 0) plan.set(oid, new Map([...m].map(([c, ch]) => [c, ch.rule])))
  return { plan, kept, warnings }
}

export interface MaskOptions {
  maxLength?: number | undefined
  /** The column is (part of) a unique key: fakes carry a hash so distinct inputs stay distinct. */
  unique: boolean
}

/**
 * Masks one value. Deterministic for (salt, rule, value): the same input maps to the same output in
 * every table and every refresh, so joins and foreign keys over masked columns still hold.
 */
export function maskValue(rule: MaskKind, value: string | null, salt: string, o: MaskOptions): string | null {
  if (value === null || rule === 'keep') return value
  if (rule === 'null') return null
  if (rule === 'redact') return fit('redacted', o.maxLength)
  const h = createHmac('sha256', salt).update(value).digest()
  const hex = h.toString('hex')
  const first = firstNames[h.readUInt16BE(0) % firstNames.length]!
  const last = lastNames[h.readUInt16BE(2) % lastNames.length]!
  const tag = (n: number) => (o.unique ? `-${hex.slice(8, 8 + n)}` : '')
  switch (rule) {
    case 'hash':
      return fit(hex.slice(0, 24), o.maxLength)
    case 'email':
      return fit(`${first}.${last}.${hex.slice(8, 18)}@example.com`.toLowerCase(), o.maxLength, true)
    case 'first_name':
      return fit(`${first}${tag(8)}`, o.maxLength)
    case 'last_name':
      return fit(`${last}${tag(8)}`, o.maxLength)
    case 'name':
      return fit(`${first} ${last}${tag(8)}`, o.maxLength)
    case 'phone': {
      const digits = [...h.subarray(4, 14)].map((b) => String(b % 10)).join('')
      return fit(o.unique ? `+1-555-${digits}` : `+1-555-${digits.slice(0, 3)}-${digits.slice(3, 7)}`, o.maxLength)
    }
  }
}

/** Truncates to a varchar limit; emails keep their hash part by dropping the name part first. */
function fit(s: string, max: number | undefined, email = false): string {
  if (max === undefined || s.length <= max) return s
  if (email) {
    const at = s.indexOf('@')
    const local = s.slice(0, at).split('.').pop()!
    const short = `${local}@example.com`
    if (short.length <= max) return short
    return local.slice(0, max)
  }
  return s.slice(0, max)
}
