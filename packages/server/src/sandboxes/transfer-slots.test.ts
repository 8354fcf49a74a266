import { describe, expect, it } from 'vitest'
import { TransferSlots } from './transfer-slots.js'

describe('TransferSlots', () => {
  it('gives each token at most `limit` slots, then quota_exceeded with scope, limit, used and retryAfter', () => {
    const slots = new TransferSlots(2)
    slots.acquire({ tokenId: 'a' })
    slots.acquire({ tokenId: 'a' })
    let err: unknown
    try {
      slots.acquire({ tokenId: 'a' })
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'quota_exceeded', details: expect.anything() })
    expect(JSON.stringify(err)).toMatch(/file_transfers/)
    expect(String((err as Error).message)).toMatch(/files\.maxConcurrentTransfers/)
    expect(slots.acquire({ tokenId: 'b' })).toBeTypeOf('function') // another token is not affected
    expect(slots.used('a')).toBe(2)
  })

  it('a released slot can be taken again; releasing twice frees one slot only', () => {
    const slots = new TransferSlots(1)
    const release = slots.acquire({ tokenId: 'a' })
    release()
    release()
    expect(slots.used('a')).toBe(0)
    const again = slots.acquire({ tokenId: 'a' })
    release() // a stale release must not free the new holder's slot
    expect(slots.used('a')).toBe(1)
    expect(() => slots.acquire({ tokenId: 'a' })).toThrow(/already has 1 file transfers running/)
    again()
    expect(slots.used('a')).toBe(0)
  })
})
