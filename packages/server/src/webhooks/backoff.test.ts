import { describe, expect, it } from 'vitest'
import { backoffDelay } from './backoff.js'

describe('backoff', () => {
  const o = { baseMs: 1000, maxMs: 60_000 }
  it('doubles its ceiling per attempt up to the cap', () => {
    const top = () => 0.999999
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, o, top))).toEqual([999, 1999, 3999, 7999, 15_999, 31_999, 59_999, 59_999])
    expect(backoffDelay(500, o, top)).toBe(59_999)
  })
  it('draws uniformly below the ceiling (full jitter): two receivers failing together are retried apart', () => {
    expect(backoffDelay(3, o, () => 0)).toBe(0)
    expect(backoffDelay(3, o, () => 0.5)).toBe(2000)
    const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(6, o)))
    expect(draws.size).toBeGreaterThan(40)
    for (const d of draws) expect(d).toBeLessThan(32_000)
  })
})
