import { describe, expect, it } from 'vitest'
import { retry } from './retry.js'

class Busy extends Error {}

/** fn failing `n` times (with `err()`), then returning the attempt number. */
function failing(n: number, err: () => Error = () => new Busy('busy')) {
  const calls: number[] = []
  const fn = async (attempt: number) => {
    calls.push(attempt)
    if (calls.length <= n) throw err()
    return attempt
  }
  return { fn, calls }
}

describe('retry', () => {
  it('returns the first success, passing the attempt number', async () => {
    const { fn, calls } = failing(2)
    expect(await retry(fn, { attempts: 5 })).toBe(2)
    expect(calls).toEqual([0, 1, 2])
  })

  it('gives up after `attempts` in all and throws the last failure', async () => {
    let n = 0
    const fn = async () => {
      throw new Busy(`busy ${++n}`)
    }
    await expect(retry(fn, { attempts: 3 })).rejects.toThrow('busy 3')
    expect(n).toBe(3)
  })

  it('rethrows a failure that is not retryable at once', async () => {
    const { fn, calls } = failing(5, () => new Error('fatal'))
    await expect(retry(fn, { attempts: 5, retryable: (e) => e instanceof Busy })).rejects.toThrow('fatal')
    expect(calls).toEqual([0])
  })

  it('calls onRetry and pauses delayMs(attempt) only between attempts', async () => {
    const { fn } = failing(3)
    const pauses: number[] = []
    const retried: number[] = []
    await retry(fn, { attempts: 10, delayMs: (a) => 50 * (a + 1), onRetry: (_e, a) => void retried.push(a), sleep: async (ms) => void pauses.push(ms) })
    expect(retried).toEqual([0, 1, 2])
    expect(pauses).toEqual([50, 100, 150])
  })

  it('neither pauses nor calls onRetry after the last attempt', async () => {
    const { fn } = failing(9)
    const pauses: number[] = []
    let retried = 0
    await expect(retry(fn, { attempts: 2, delayMs: () => 10, onRetry: () => void retried++, sleep: async (ms) => void pauses.push(ms) })).rejects.toThrow('busy')
    expect(pauses).toEqual([10])
    expect(retried).toBe(1)
  })

  it('refuses fewer than one attempt', async () => {
    await expect(retry(async () => 1, { attempts: 0 })).rejects.toThrow(RangeError)
  })
})
