import { describe, expect, it } from 'vitest'
import { cachingStatements } from './statement-cache.js'

function fakeDb() {
  const prepared: string[] = []
  return {
    prepared,
    closed: false,
    prepare(sql: string) {
      prepared.push(sql)
      return { sql, busy: false }
    },
    close() {
      this.closed = true
    },
  }
}

describe('cachingStatements', () => {
  it('prepares each SQL text once and hands the same statement back', () => {
    const db = fakeDb()
    const c = cachingStatements(db)
    const a = c.prepare('select 1')
    expect(c.prepare('select 1')).toBe(a)
    c.prepare('select 2')
    expect(db.prepared).toEqual(['select 1', 'select 2'])
  })

  it('gives a busy (still iterating) statement no second job', () => {
    const db = fakeDb()
    const c = cachingStatements(db)
    const a = c.prepare('select * from t')
    a.busy = true
    const b = c.prepare('select * from t')
    expect(b).not.toBe(a)
    a.busy = false
    expect(c.prepare('select * from t')).toBe(a)
  })

  it('evicts the least recently used beyond max, and closes the database', () => {
    const db = fakeDb()
    const c = cachingStatements(db, 2)
    c.prepare('a')
    c.prepare('b')
    c.prepare('a') // a is now the most recent
    c.prepare('c') // evicts b
    c.prepare('a')
    c.prepare('b')
    expect(db.prepared).toEqual(['a', 'b', 'c', 'b'])
    c.close()
    expect(db.closed).toBe(true)
  })
})
