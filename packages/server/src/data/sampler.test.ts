import { describe, expect, it } from 'vitest'
import { Sampler } from './sampler.js'
import type { SourceColumn, SourceTable } from './source.js'

const int = (name: string): SourceColumn => ({ name, type: 'integer', notNull: false, generated: false, category: 'N', maxLength: undefined })
const text = (name: string): SourceColumn => ({ name, type: 'text', notNull: false, generated: false, category: 'S', maxLength: undefined })
const people: SourceTable = {
  oid: 1,
  schema: 'public',
  name: 'people',
  relkind: 'r',
  estimate: 100,
  bytes: 8192,
  rls: false,
  columns: [int('id'), text('email'), int('boss')],
  primaryKey: ['id'],
  uniques: [['id']],
  fks: [{ name: 'boss_fk', columns: ['boss'], refOid: 1, refColumns: ['id'] }],
}
const notes: SourceTable = {
  oid: 2,
  schema: 'app',
  name: 'notes',
  relkind: 'p',
  estimate: 10,
  bytes: 8192,
  rls: false,
  columns: [int('id'), int('person'), { ...text('total'), generated: true }],
  primaryKey: ['id'],
  uniques: [['id']],
  fks: [{ name: 'person_fk', columns: ['person'], refOid: 1, refColumns: ['id'] }],
}

describe('Sampler', () => {
  const make = (percent = 10) => new Sampler([people, notes], { percent, perTable: { 'app.notes': { maxRows: 3 } }, seed: 5 }, new Map([[1, new Map([['email', 'email' as const]])]]), 'salt')

  it('renders repeatable seed queries without generated columns; ONLY for plain tables', () => {
    const s = make()
    expect(s.seedCopy(s.tables[0]!, 5)).toBe('COPY (SELECT "id", "email", "boss" FROM ONLY "public"."people" TABLESAMPLE BERNOULLI (10) REPEATABLE (5)) TO STDOUT')
    expect(s.seedCopy(s.tables[1]!, 5)).toBe('COPY (SELECT "id", "person" FROM "app"."notes" TABLESAMPLE BERNOULLI (10) REPEATABLE (5) LIMIT 3) TO STDOUT')
    expect(make(100).tables[0]!.complete).toBe(true)
  })

  it('masks rows on their way, and fetches what they reference until nothing is missing (self-reference)', () => {
    const s = make()
    const [p, n] = s.tables as [NonNullable<(typeof s.tables)[0]>, NonNullable<(typeof s.tables)[0]>]
    const out = s.take(p, '3\tthree@corp.test\t2', 'seed')!
    expect(out.startsWith('3\t')).toBe(true)
    expect(out).not.toContain('corp.test')
    s.take(n, '10\t3', 'seed')
    s.take(n, '11\t1', 'seed')
    const f = s.missing()
    expect(f).toHaveLength(1)
    expect(f[0]!.keys.sort()).toEqual(['1', '2'])
    expect(s.fetchCopy(f[0]!)).toBe(`COPY (SELECT "id", "email", "boss" FROM ONLY "public"."people" WHERE ("id") IN (SELECT * FROM unnest('{"1","2"}'::integer[]))) TO STDOUT`)
    // Fetched: 2 (boss 1), 1 (no boss). A row reached twice is written once.
    expect(s.take(p, '2\ttwo@corp.test\t1', 'closure')).toMatch(/^2\t(?!two@corp\.test)[^\t]+\t1$/) // taken, email masked
    expect(s.take(p, '1\tone@corp.test\t\\N', 'closure')).toMatch(/^1\t(?!one@corp\.test)[^\t]+\t\\N$/)
    expect(s.take(p, '1\tone@corp.test\t\\N', 'closure')).toBeUndefined()
    expect(s.unresolved(f[0]!)).toEqual([])
    expect(s.missing()).toEqual([])
    expect(p.sampled).toBe(1)
    expect(p.added).toBe(2)
  })

  it('reports keys the source did not return', () => {
    const s = make()
    s.take(s.tables[1]!, '10\t99', 'seed')
    const [f] = s.missing()
    expect(s.unresolved(f!)).toEqual(['99'])
  })
})
