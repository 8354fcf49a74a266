import { describe, expect, it } from 'vitest'
import { resolveMasking } from './masking.js'
import { ContentMasker } from './pii-mask.js'
import { maskingReport, nameColumns, newTally, planContent, scanValue } from './pii-plan.js'
import type { SourceColumn, SourceTable } from './source.js'

const col = (name: string, o: Partial<SourceColumn> = {}): SourceColumn => ({ name, type: 'text', notNull: false, generated: false, category: 'S', maxLength: undefined, ...o })
const people: SourceTable = {
  oid: 1,
  schema: 'public',
  name: 'people',
  relkind: 'r',
  estimate: 0,
  bytes: 0,
  rls: false,
  columns: [
    col('id', { category: 'N', type: 'integer' }),
    col('first_name'),
    col('last_name'),
    col('handle_code'),
    col('bio'),
    col('extra', { category: 'U', type: 'jsonb' }),
    col('kept'),
    col('total', { generated: true }),
  ],
  primaryKey: ['id'],
  uniques: [['id'], ['handle_code']],
  fks: [],
}
const tickets: SourceTable = {
  ...people,
  oid: 2,
  name: 'tickets',
  columns: [col('id', { category: 'N', type: 'integer' }), col('owner'), col('note', { type: 'character varying(12)', maxLength: 12 })],
  uniques: [['id']],
  fks: [{ name: 'tickets_owner_fkey', columns: ['owner'], refOid: 1, refColumns: ['handle_code'] }],
}

describe('planContent', () => {
  const resolved = resolveMasking([people, tickets], { defaults: true, rules: [{ column: 'kept', rule: 'keep' }] })
  const decisions = (content: boolean, t: SourceTable) =>
    Object.fromEntries(
      planContent([people, tickets], resolved, content)
        .get(t.oid)!
        .map((d) => [d.column.name, d.by === 'none' ? d.reason : d.by]),
    )

  it('scans text and JSON columns no rule masks; leaves keys, keep rules and other types as they are, saying why', () => {
    expect(decisions(true, people)).toEqual({
      id: 'not text or JSON',
      first_name: 'name',
      last_name: 'name',
      handle_code: 'a key column (primary, unique or foreign key): not scanned',
      bio: 'scan',
      extra: 'scan',
      kept: 'an explicit keep rule',
    })
    expect(decisions(true, tickets)).toMatchObject({ owner: 'a key column (primary, unique or foreign key): not scanned', note: 'scan' })
    expect(decisions(false, people)).toMatchObject({ bio: 'content scanning off', extra: 'content scanning off', first_name: 'name' })
  })

  it('names the masked name columns, whose values teach the name detector', () => {
    expect(nameColumns([people, tickets], resolved.plan).map((c) => `${c.table.name}.${c.column}:${c.rule}`)).toEqual(['people.first_name:first_name', 'people.last_name:last_name'])
  })

  it('tallies what a scan found, cuts fakes to varchar(n), and reports by name / by content / as is', () => {
    const masker = new ContentMasker('k', new Map([['ysolde', 'first']]))
    const tally = newTally()
    expect(scanValue(masker, 'no personal data', false, tally)).toBe('no personal data')
    const cut = scanValue(masker, 'Ysolde', false, tally, 12)
    expect(cut).not.toContain('Ysolde')
    expect(cut.length).toBeLessThanOrEqual(12)
    expect(scanValue(masker, 'x@corp.example.org', false, tally, 12)).toHaveLength(12)
    expect(tally).toMatchObject({ scanned: 3, masked: 2, found: { name: 1, email: 1 } })
    const plan = planContent([people, tickets], resolved, true)
    const r = maskingReport({
      dryRun: true,
      content: true,
      tables: [people, tickets],
      plan,
      tallies: new Map([[2, new Map([['note', tally]])]]),
      rows: new Map([[2, 3]]),
      names: { columns: nameColumns([people, tickets], resolved.plan), book: new Map([['ysolde', 'first']]) },
      warnings: [],
    })
    const t = r.tables.find((x) => x.table === 'public.tickets')!
    expect(t.rows).toBe(3)
    expect(t.columns.find((c) => c.column === 'note')).toMatchObject({ masking: 'content', scanned: 3, masked: 2, found: { email: 1, name: 1, phone: 0 } })
    expect(r.tables[0]!.columns.find((c) => c.column === 'bio')).toMatchObject({ masking: 'none', scanned: 0, reason: 'scanned by content: nothing found' })
    expect(r.found).toEqual({ email: 1, phone: 0, card: 0, iban: 0, name: 1 })
    expect(r.namesLearned).toBe(1)
    expect(r.nameColumns).toEqual(['public.people.first_name', 'public.people.last_name'])
  })
})
