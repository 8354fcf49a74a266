import { describe, expect, it } from 'vitest'
import { pollUntil, retry } from './backoff.js'

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

describe('retry', () => {
  const busy = Object.assign(new Error('busy'), { code: 'EBUSY' })
  const retryable = (e: unknown) => (e as { code?: string }).code === 'EBUSY'

  it('retries a retryable failure until the attempt succeeds', async () => {
    let calls = 0
    const r = await retry(() => {
      if (++calls < 3) throw busy
      return 'ok'
    }, { attempts: 5, firstDelayMs: 1, retryable })
    expect([r, calls]).toEqual(['ok', 3])
  })

  it('throws the last failure after `attempts` tries, and any other failure at once', async () => {
    let calls = 0
    await expect(retry(() => (calls++, Promise.reject(busy)), { attempts: 3, firstDelayMs: 1, retryable })).rejects.toBe(busy)
    expect(calls).toBe(3)
    calls = 0
    const other = new Error('other')
    await expect(retry(() => (calls++, Promise.reject(other)), { attempts: 3, firstDelayMs: 1, retryable })).rejects.toBe(other)
    expect(calls).toBe(1)
  })
})
