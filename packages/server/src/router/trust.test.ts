import { describe, expect, it } from 'vitest'
import { stripRouting } from './trust.js'

describe('stripRouting', () => {
  it('drops x-tidepool-route and the tidepool-route member, keeping the other members', () => {
    const h: Record<string, string | string[] | undefined> = { 'x-tidepool-route': 'k', baggage: 'a=1, tidepool-route=k;p=1,b=2', other: 'x' }
    stripRouting(h)
    expect(h).toEqual({ baggage: 'a=1,b=2', other: 'x' })
  })
  it('drops a baggage header that only carried the key', () => {
    const h: Record<string, string | string[] | undefined> = { baggage: ['tidepool-route=k'] }
    stripRouting(h)
    expect(h).toEqual({})
  })
})
