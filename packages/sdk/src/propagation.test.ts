import { describe, expect, it } from 'vitest'
import { propagate, routeKeyOf, withRouteKey } from './propagation.js'

describe('propagation', () => {
  it('reads the key from baggage first, then x-tidepool-route, and ignores malformed keys', () => {
    expect(routeKeyOf({ baggage: 'userId=alice, tidepool-route=pr-7;p=1', 'x-tidepool-route': 'other' })).toBe('pr-7')
    expect(routeKeyOf({ 'x-tidepool-route': 'pr-8' })).toBe('pr-8')
    expect(routeKeyOf({ baggage: 'tidepool-route=-bad' })).toBeUndefined()
    expect(routeKeyOf({ baggage: `tidepool-route=a,${'x'.repeat(9000)}` })).toBeUndefined()
    expect(routeKeyOf(new Headers({ baggage: 'tidepool-route=k1' }))).toBe('k1')
  })

  it('sets the member once, keeps the others, and carries baggage and traceparent onward', () => {
    expect(withRouteKey('a=1,tidepool-route=old,b=2', 'new')).toBe('a=1,b=2,tidepool-route=new')
    expect(() => withRouteKey(undefined, 'Bad Key')).toThrow(/not a routing key/)
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(propagate({ baggage: 'u=1,tidepool-route=pr-7', traceparent: tp }, { accept: 'x' })).toEqual({ accept: 'x', baggage: 'u=1,tidepool-route=pr-7', traceparent: tp })
    expect(propagate({}, {}, 'mine')).toEqual({ baggage: 'tidepool-route=mine' })
    expect(propagate({ baggage: 'u=1' })).toEqual({ baggage: 'u=1' })
  })
})
