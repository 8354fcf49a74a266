import { describe, expect, it } from 'vitest'
import { canonicalJson } from './canonical-json.js'

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
