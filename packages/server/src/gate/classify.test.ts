import { beforeAll, describe, expect, it } from 'vitest'
import { classify, loadParser } from './classify.js'

beforeAll(async () => {
  await loadParser()
})

describe('classify (the PostgreSQL parser, not patterns)', () => {
  it('tells read-only, write and DDL apart, per statement and as a whole', () => {
    expect(classify('SELECT * FROM orders WHERE id = 1').category).toBe('read-only')
    expect(classify("SELECT 'DROP TABLE x; DELETE FROM y' AS s").category).toBe('read-only')
    const w = classify("INSERT INTO audit.events (kind) VALUES ('x'); SELECT 1")
    expect(w.category).toBe('write')
    expect(w.statements.map((s) => [s.kind, s.category, s.tables])).toEqual([
      ['InsertStmt', 'write', ['audit.events']],
      ['SelectStmt', 'read', []],
    ])
    expect(classify('CREATE TABLE t (id int); INSERT INTO t VALUES (1)').category).toBe('ddl')
    expect(classify('SELECT * FROM orders FOR UPDATE').category).toBe('write')
  })

  it('finds destructive statements: DROP, TRUNCATE, DELETE/UPDATE without WHERE, DROP COLUMN', () => {
    const d = (sql: string) => classify(sql).statements.flatMap((s) => s.destructive)
    expect(d('DROP TABLE orders')).toEqual(['DROP TABLE public.orders removes it and its data'])
    expect(d('TRUNCATE shop.orders')).toEqual(['TRUNCATE shop.orders deletes every row'])
    expect(d('DELETE FROM orders')).toEqual(['DELETE without WHERE on public.orders changes every row'])
    expect(d("UPDATE customers SET email = 'x'")).toEqual(['UPDATE without WHERE on public.customers changes every row'])
    expect(d("UPDATE customers SET email = 'x' WHERE id = 3")).toEqual([])
    expect(d('ALTER TABLE orders DROP COLUMN note')).toEqual(['DROP COLUMN public.orders.note removes the column and its data'])
    expect(classify('ALTER TABLE orders DROP COLUMN note').statements[0]!.droppedColumns).toEqual(['public.orders.note'])
    expect(d('DROP INDEX orders_customer')).toEqual([])
  })

  it('finds heavy locks: volatile defaults, CREATE INDEX without CONCURRENTLY, validating constraints, type changes', () => {
    const h = (sql: string) => classify(sql).statements.flatMap((s) => s.heavyLocks)
    expect(h('ALTER TABLE orders ADD COLUMN code uuid DEFAULT gen_random_uuid()')).toHaveLength(1)
    expect(h("ALTER TABLE orders ADD COLUMN flag boolean NOT NULL DEFAULT false, ADD COLUMN at timestamptz DEFAULT '2024-01-01'")).toEqual([])
    expect(h('CREATE INDEX orders_total ON orders (total)')).toEqual(['CREATE INDEX on public.orders without CONCURRENTLY blocks writes to it while the index builds'])
    expect(h('ALTER TABLE orders ADD CONSTRAINT pos CHECK (total > 0)')).toHaveLength(1)
    expect(h('ALTER TABLE orders ADD CONSTRAINT pos CHECK (total > 0) NOT VALID')).toEqual([])
    expect(h('ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2)')).toHaveLength(1)
    const ci = classify('CREATE INDEX CONCURRENTLY orders_total ON orders (total)')
    expect(ci.heavyLocks).toBe(false)
    expect(ci.transactional).toBe(false)
    expect(classify('ALTER TABLE orders ADD COLUMN x int').statements[0]!.impliedLocks).toEqual([{ table: 'public.orders', mode: 'AccessExclusiveLock' }])
  })

  it('slices each statement out of the artifact by the parser’s byte offsets (multibyte text too)', () => {
    const c = classify("UPDATE t SET s = 'ünïcødé' WHERE id = 1;\n  SELECT 2 ;")
    expect(c.statements.map((s) => s.sql)).toEqual(["UPDATE t SET s = 'ünïcødé' WHERE id = 1", 'SELECT 2'])
  })

  it('refuses SQL that does not parse, transaction control, and changes to the settings the gate applies', () => {
    expect(() => classify('SELEC 1')).toThrow(/artifact: SQL does not parse: syntax error at or near "SELEC"/)
    expect(() => classify('-- only a comment')).toThrow(/no SQL statement/)
    expect(() => classify('BEGIN; DELETE FROM t WHERE id = 1; COMMIT')).toThrow(/transaction control/)
    expect(() => classify('SET ROLE postgres; DROP TABLE t')).toThrow(/sets role/)
    expect(() => classify('SET statement_timeout = 0')).toThrow(/sets statement_timeout/)
    expect(classify('SET LOCAL search_path = shop, public; SELECT 1').category).toBe('read-only')
  })
})
