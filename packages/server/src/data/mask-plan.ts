/**
 * @module data/mask-plan — the dry run of a mirror build's masking: read a bounded sample of every table
 * of the source (one read-only transaction), decide the rules like a build does, scan the text and JSON
 * columns by content, and report per column what a build would mask. Nothing is written anywhere.
 */
import type { MaskingReport } from '@tidepool/sdk'
import { resolveMasking, type MaskingInput } from './masking.js'
import { qualified, quoteIdent } from './pg-admin.js'
import { ContentMasker } from './pii-mask.js'
import { learnNames, maskingReport, nameColumns, newTally, planContent, scanValue, type ColumnTally } from './pii-plan.js'
import type { SampleInput } from './sampler.js'
import { connectSource, readCatalog, sourceError } from './source.js'
import type { SourceConn } from './source-url.js'

export interface MaskPlanRequest {
  source: SourceConn
  salt: string
  sample: SampleInput
  masking: MaskingInput
  rowsPerTable: number
}

export async function planMasking(r: MaskPlanRequest): Promise<MaskingReport> {
  const client = await connectSource(r.source)
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    const catalog = await readCatalog(client)
    const resolved = resolveMasking(catalog.tables, r.masking)
    const content = r.masking.content !== false
    const plan = planContent(catalog.tables, resolved, content)
    const names = nameColumns(catalog.tables, resolved.plan)
    const book = content ? await learnNames(client, names) : new Map<string, 'first' | 'last'>()
    const masker = new ContentMasker(r.salt, book)
    const tallies = new Map<number, Map<string, ColumnTally>>()
    const rows = new Map<number, number>()
    for (const t of catalog.tables) {
      const scans = (plan.get(t.oid) ?? []).flatMap((d) => (d.by === 'scan' ? [d] : []))
      if (scans.length === 0) continue
      const key = `${t.schema}.${t.name}`
      const o = r.sample.perTable[key] ?? (t.schema === 'public' ? r.sample.perTable[t.name] : undefined) ?? {}
      const percent = o.percent ?? r.sample.percent
      // A skipped table still brings the rows others reference: scan its first rows then.
      const sample = percent >= 100 || o.skip ? '' : ` TABLESAMPLE BERNOULLI (${percent}) REPEATABLE (${r.sample.seed})`
      const from = `${t.relkind === 'r' ? 'ONLY ' : ''}${qualified(t.schema, t.name)}`
      const list = scans.map((d) => `${quoteIdent(d.column.name)}::text`).join(', ')
      const res = await client.query<unknown[]>({ text: `SELECT ${list} FROM ${from}${sample} LIMIT ${r.rowsPerTable}`, rowMode: 'array' })
      const byColumn = new Map(scans.map((d) => [d.column.name, newTally()]))
      for (const row of res.rows) {
        scans.forEach((d, i) => {
          const v = row[i]
          if (typeof v === 'string') scanValue(masker, v, d.json, byColumn.get(d.column.name)!)
        })
      }
      tallies.set(t.oid, byColumn)
      rows.set(t.oid, res.rows.length)
    }
    const warnings = [...resolved.warnings]
    if (content && names.length === 0) warnings.push('no column is masked as a name (first_name, last_name, name): names inside text are not detected; add such a rule to teach the name detector')
    return maskingReport({ dryRun: true, content, tables: catalog.tables, plan, tallies, rows, names: { columns: names, book }, warnings })
  } catch (err) {
    throw sourceError(err, r.source) // AppErrors (masking rules that cannot work) pass through as they are
  } finally {
    await client.query('ROLLBACK').catch(() => undefined)
    await client.end().catch(() => undefined)
  }
}
