import { describe, expect, it } from 'vitest'
import { confirmedGrowth } from './growth.js'

describe('confirmedGrowth', () => {
  it('passes a linear scan and catches a quadratic one', () => {
    const linear = (s: string) => s.indexOf('!')
    // Each position rescans the rest: O(n²), like a backtracking pattern on a long run.
    const quadratic = (s: string) => {
      let sum = 0
      for (let i = 0; i < s.length; i++) for (let j = i; j < s.length; j++) sum += s.charCodeAt(j)
      return sum
    }
    expect(confirmedGrowth((n) => 'a'.repeat(n), linear, 4096)).toMatchObject({ linear: true })
    expect(confirmedGrowth((n) => 'a'.repeat(n), quadratic, 512)).toMatchObject({ linear: false })
  })
})
