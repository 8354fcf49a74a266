import { describe, expect, it } from 'vitest'
import { diffSchema, fingerprint, quoteTable, tableOfLine } from './observe.js'
import { proposalHash } from './proposals.js'

describe('observe (pure parts)', () => {
  it('diffs schema lines: added, removed, and a column whose definition changed', () => {
    const before = ['table public.t', 'column public.t.a integer', 'column public.t.b text', 'index public.t_a CREATE INDEX t_a ON public.t USING btree (a)']
    const after = ['table public.t', 'column public.t.a bigint not null', 'column public.t.c boolean default false']
    expect(diffSchema(before, after)).toEqual({
      added: ['column public.t.c boolean default false'],
      removed: ['column public.t.b text', 'index public.t_a CREATE INDEX t_a ON public.t USING btree (a)'],
      changed: ['column public.t.a integer -> bigint not null'],
    })
    expect(diffSchema(before, before)).toEqual({ added: [], removed: [], changed: [] })
  })

  it('names the table of each kind of schema line', () => {
    expect(tableOfLine('table shop.orders')).toBe('shop.orders')
    expect(tableOfLine('column shop.orders.total numeric(10,2)')).toBe('shop.orders')
    expect(tableOfLine('constraint public.orders.orders_pkey PRIMARY KEY (id)')).toBe('public.orders')
    expect(tableOfLine('index public.orders_customer CREATE INDEX orders_customer ON public.orders USING btree (customer_id)')).toBe('public.orders')
    expect(tableOfLine('index public.p_i CREATE INDEX p_i ON ONLY public.p USING btree (a)')).toBe('public.p')
  })

  it('fingerprints schema and counts, independent of the order counts come in', () => {
    const a = fingerprint(
      ['table public.t'],
      new Map([
        ['public.t', 3],
        ['public.u', 1],
      ]),
    )
    expect(
      fingerprint(
        ['table public.t'],
        new Map([
          ['public.u', 1],
          ['public.t', 3],
        ]),
      ),
    ).toBe(a)
    expect(
      fingerprint(
        ['table public.t'],
        new Map([
          ['public.t', 4],
          ['public.u', 1],
        ]),
      ),
    ).not.toBe(a)
    expect(
      fingerprint(
        ['table public.t', 'column public.t.a int'],
        new Map([
          ['public.t', 3],
          ['public.u', 1],
        ]),
      ),
    ).not.toBe(a)
  })

  it('quotes identifiers from the catalog, doubling quotes', () => {
    expect(quoteTable('public.we"ird')).toBe('"public"."we""ird"')
  })

  it('hashes a proposal over everything a reviewer sees, key order aside', () => {
    const body = { kind: 'sql' as const, artifact: 'SELECT 1', intent: 'x', expect: { destructive: false, heavyLocks: false } }
    const h = proposalHash('gtg_abcdef', body)
    expect(h).toMatch(/^[0-9a-f]{64}$/)
    expect(proposalHash('gtg_abcdef', { intent: 'x', expect: { heavyLocks: false, destructive: false }, artifact: 'SELECT 1', kind: 'sql' })).toBe(h)
    expect(proposalHash('gtg_abcdef', { ...body, rollback: 'SELECT 2' })).not.toBe(h)
    expect(proposalHash('gtg_other1', body)).not.toBe(h)
  })
})
