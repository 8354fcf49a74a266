import { describe, expect, it } from 'vitest'
import { decodeCursor } from './cursor.js'
import { filteredPageOf, hasAll, pageOf } from './page.js'

describe('pageOf', () => {
  it('returns every item and no cursor when the query found no more than the limit', () => {
    expect(pageOf([{ id: 'a' }, { id: 'b' }], 2)).toEqual({ items: [{ id: 'a' }, { id: 'b' }] })
  })

  it('drops the extra item and points the cursor at the last one returned', () => {
    const page = pageOf([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2)
    expect(page.items).toEqual([{ id: 'a' }, { id: 'b' }])
    expect(decodeCursor(page.nextToken)).toBe('b')
  })

  it('takes the key from the function given', () => {
    const page = pageOf([{ seq: 1 }, { seq: 2 }], 1, (e) => String(e.seq))
    expect(decodeCursor(page.nextToken)).toBe('1')
  })
})

describe('filteredPageOf', () => {
  const rows = Array.from({ length: 1_234 }, (_, i) => ({ id: `r${String(i).padStart(5, '0')}`, labels: JSON.stringify(i % 7 === 0 ? { team: 'a' } : { team: 'b' }) }))
  const fetch = async (after: string | undefined, n: number) => rows.filter((r) => after === undefined || r.id > after).slice(0, n)

  it('pages through every kept row once, in order, across scan batches', async () => {
    const seen: string[] = []
    let nextToken: string | undefined
    for (let i = 0; i < 100; i++) {
      const page = await filteredPageOf({ nextToken, limit: 40, fetch, keep: (r) => hasAll(r.labels, [['team', 'a']]), view: (r) => r.id })
      seen.push(...page.items)
      nextToken = page.nextToken
      if (!nextToken) break
    }
    expect(seen).toEqual(rows.filter((_, i) => i % 7 === 0).map((r) => r.id))
  })

  it('hasAll reads own keys only: a prototype name matches nothing', () => {
    expect(hasAll('{"team":"a"}', [['constructor', 'function Object() { [native code] }']])).toBe(false)
    expect(hasAll('{"team":"a"}', [])).toBe(true)
  })
})
