import { describe, expect, it } from 'vitest'
import { isRoutingKey, keyFromBaggage, MAX_BAGGAGE_BYTES, parseHost, routeKeyOf } from './route-key.js'

describe('keyFromBaggage', () => {
  it('finds the tidepool-route member among others, with properties and spaces', () => {
    expect(keyFromBaggage('userId=alice, tidepool-route=pr-42;ttl=1 ,serverNode=DF%2028')).toEqual({ key: 'pr-42' })
    expect(keyFromBaggage('tidepool-route=%70r1')).toEqual({ key: 'pr1' })
  })
  it('has no key when the member is absent', () => {
    expect(keyFromBaggage('a=1,b=2')).toEqual({})
    expect(keyFromBaggage('')).toEqual({})
  })
  it('refuses oversized, too many members and malformed members with a problem', () => {
    expect(keyFromBaggage(`tidepool-route=k,${'a=1,'.repeat(MAX_BAGGAGE_BYTES / 4)}`).problem).toContain('bytes')
    expect(keyFromBaggage([...Array.from({ length: 64 }, (_, i) => `m${i}=1`), 'tidepool-route=k'].join(',')).problem).toContain('more than 64')
    expect(keyFromBaggage('tidepool-route=k,,a=1').problem).toContain('empty member')
    expect(keyFromBaggage('tidepool-route=k,novalue').problem).toContain('key=value')
    expect(keyFromBaggage('tidepool-route=UPPER').problem).toContain('not a routing key')
    expect(keyFromBaggage('tidepool-route=%E0%A4%A').problem).toContain('percent')
    expect(keyFromBaggage('bad key=1').problem).toContain('token')
  })
  it('accepts exactly 64 members', () => {
    expect(keyFromBaggage([...Array.from({ length: 63 }, (_, i) => `m${i}=1`), 'tidepool-route=k'].join(','))).toEqual({ key: 'k' })
  })
})

describe('parseHost', () => {
  it('reads service and environment, with or without a port', () => {
    expect(parseHost('b.shop.localhost:7071')).toEqual({ env: 'shop', service: 'b' })
    expect(parseHost('B.Shop.localhost.')).toEqual({ env: 'shop', service: 'b' })
  })
  it('reads the key of a preview host', () => {
    expect(parseHost('pr-1--b.shop.preview.localhost:80')).toEqual({ env: 'shop', service: 'b', key: 'pr-1' })
    expect(parseHost('b.shop.preview.localhost')).toEqual({ env: 'shop', service: 'b' })
  })
  it('ignores other hosts', () => {
    for (const h of [undefined, '', '127.0.0.1:7071', 'localhost', 'a.b.c.localhost', 'b.shop.example.com', '--b.shop.preview.localhost', `${'a'.repeat(300)}.x.localhost`])
      expect(parseHost(h)).toBeUndefined()
  })
})

describe('routeKeyOf', () => {
  const host = { env: 'shop', service: 'b' }
  it('prefers the preview host, then x-tidepool-route, then baggage', () => {
    expect(routeKeyOf({ ...host, key: 'h' }, { 'x-tidepool-route': 'x', baggage: 'tidepool-route=b' }, [])).toBe('h')
    expect(routeKeyOf(host, { 'x-tidepool-route': 'x', baggage: 'tidepool-route=b' }, [])).toBe('x')
    expect(routeKeyOf(host, { baggage: ['a=1', 'tidepool-route=b'] }, [])).toBe('b')
  })
  it('reports why a header carried no key', () => {
    const problems: string[] = []
    expect(routeKeyOf(host, { 'x-tidepool-route': 'Not a key', baggage: 'x' }, problems)).toBeUndefined()
    expect(problems).toEqual(['x-tidepool-route is not a routing key', 'baggage member without key=value'])
  })
  it('agrees with the contract on keys', () => {
    expect(isRoutingKey('a-1')).toBe(true)
    expect(isRoutingKey('-a')).toBe(false)
    expect(isRoutingKey('a'.repeat(64))).toBe(false)
  })
})
