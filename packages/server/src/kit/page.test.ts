import { describe, expect, it } from 'vitest'
import { decodeCursor } from './cursor.js'
import { pageOf } from './page.js'

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
