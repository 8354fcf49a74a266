import { describe, expect, it } from 'vitest'
import { pollUntil } from './backoff.js'

describe('pollUntil', () => {
  it('returns true once the check holds, after as many checks as it took', async () => {
    let calls = 0
    expect(await pollUntil(() => ++calls === 4, { timeoutMs: 10_000, maxDelayMs: 2 })).toBe(true)
    expect(calls).toBe(4)
  })

  it('returns false when the time is up, having checked once more after it', async () => {
    let calls = 0
    expect(await pollUntil(() => (calls++, false), { timeoutMs: 0, maxDelayMs: 1 })).toBe(false)
    expect(calls).toBeGreaterThanOrEqual(1)
  })
})
