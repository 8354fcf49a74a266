import { describe, expect, it } from 'vitest'
import { columnText } from './audit-row.js'
import { canonicalJson, jsonValue } from './canonical-json.js'

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], A: { z: 1, y: 2 } })).toBe('{"A":{"y":2,"z":1},"a":[true,null,"x"],"b":1}')
  })
  it('matches the RFC 8785 sample for numbers and escapes', () => {
    expect(canonicalJson({ numbers: [333333333.33333329, 1e30, 4.5, 0.002, 1e-27], string: '€$\u000f\nA\'B"\\\\"/' })).toBe(
      '{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    )
  })
  it('orders keys by code unit, not locale', () => {
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '1': 3, '\ud83d\ude00': 4, '\u00f6': 5 })).toBe('{"\\r":2,"1":3,"ö":5,"€":1,"😀":4}')
  })
  it('refuses values JSON cannot hold', () => {
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(/NaN/)
  })
})

describe('jsonValue', () => {
  it('turns anything into a JSON value without throwing', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.me = cyclic
    let deep: unknown = 'leaf'
    for (let i = 0; i < 100; i++) deep = [deep]
    const bad = {
      get x(): never {
        throw new Error('no')
      },
    }
    const v = jsonValue({ n: 10n, inf: Number.POSITIVE_INFINITY, f: () => 1, u: undefined, arr: [undefined, Symbol('s')], d: new Date(0), cyclic, deep, bad, shared: [cyclic, cyclic] })
    expect(() => canonicalJson(v)).not.toThrow()
    expect(v).toMatchObject({
      n: '10',
      inf: null,
      arr: [null, null],
      d: '1970-01-01T00:00:00.000Z',
      cyclic: { me: '[circular]' },
      bad: '[unserialisable]',
      shared: [{ me: '[circular]' }, { me: '[circular]' }],
    })
    expect(JSON.stringify(v)).toContain('[too deep]')
    expect(Object.keys(v as object)).not.toContain('f')
  })
  it('keeps an own __proto__ key as a key', () => {
    const v = jsonValue(JSON.parse('{"__proto__":{"polluted":1}}')) as Record<string, unknown>
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
    expect(Object.keys(v)).toEqual(['__proto__'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('columnText', () => {
  it('replaces lone surrogates and NUL (what SQLite and PostgreSQL text cannot hold) and keeps pairs', () => {
    expect(columnText('a\ud800\ud83d\ude00\udc00\u0000')).toBe('a\ufffd\ud83d\ude00\ufffd\ufffd')
  })
})
