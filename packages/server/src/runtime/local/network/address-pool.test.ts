import { describe, expect, it } from 'vitest'
import { formatIpv4, gatewayOf, hostIfName, ipOfHostIf, nextAddress, parseIpv4, parseRange, rangeText } from './address-pool.js'

const ip = (s: string) => parseIpv4(s)!

describe('address pool', () => {
  it('parses and formats dotted quads, refusing anything else', () => {
    expect(formatIpv4(ip('10.200.0.1'))).toBe('10.200.0.1')
    expect(formatIpv4(ip('255.255.255.255'))).toBe('255.255.255.255')
    for (const bad of ['10.200.0', '10.200.0.256', '10.200.0.01', '10.200.0.1.2', ' 10.0.0.1', '10.0.0.-1', '']) expect(parseIpv4(bad), bad).toBeUndefined()
  })

  it('takes private ranges of /8 to /28 only, given by their network address', () => {
    expect(rangeText(parseRange('10.200.0.0/16'))).toBe('10.200.0.0/16')
    expect(rangeText(parseRange('192.168.77.0/24'))).toBe('192.168.77.0/24')
    expect(rangeText(parseRange('100.64.0.0/10'))).toBe('100.64.0.0/10')
    expect(() => parseRange('10.200.0.1/16')).toThrow(/host bits set; use 10\.200\.0\.0\/16/)
    expect(() => parseRange('8.8.8.0/24')).toThrow(/must lie in 10\.0\.0\.0\/8/)
    expect(() => parseRange('172.32.0.0/16')).toThrow(/must lie in/)
    expect(() => parseRange('10.0.0.0/30')).toThrow(/p from 8 to 28/)
    expect(() => parseRange('10.0.0.0')).toThrow(/a\.b\.c\.d\/p/)
    expect(() => parseRange('10.0.0.0/16/2')).toThrow(/a\.b\.c\.d\/p/)
  })

  it('puts the gateway on the first address and sandboxes from the second to the one before broadcast', () => {
    const r = parseRange('10.200.0.0/28')
    expect(formatIpv4(gatewayOf(r))).toBe('10.200.0.1')
    const taken = new Set<number>()
    const got: string[] = []
    let cursor = 0
    for (let i = 0; i < 13; i++) {
      cursor = nextAddress(r, taken, cursor)
      taken.add(cursor)
      got.push(formatIpv4(cursor))
    }
    expect(got[0]).toBe('10.200.0.2')
    expect(got.at(-1)).toBe('10.200.0.14')
    expect(new Set(got).size).toBe(13)
    expect(() => nextAddress(r, taken, cursor)).toThrow(/every address of runtime\.network\.range 10\.200\.0\.0\/28 is in use \(13\)/)
  })

  it('goes round robin, so an address just freed (its pair maybe still going) is the last to come back', () => {
    const r = parseRange('10.200.0.0/28')
    const taken = new Set([ip('10.200.0.2'), ip('10.200.0.4')])
    expect(formatIpv4(nextAddress(r, taken, ip('10.200.0.2')))).toBe('10.200.0.3')
    expect(formatIpv4(nextAddress(r, taken, ip('10.200.0.3')))).toBe('10.200.0.5')
    expect(formatIpv4(nextAddress(r, new Set(), ip('10.200.0.14')))).toBe('10.200.0.2') // wraps
    expect(formatIpv4(nextAddress(r, new Set(), ip('192.168.0.1')))).toBe('10.200.0.2') // a cursor outside starts over
  })

  it('names host ends tp<8 hex digits> and reads back only names of its own range', () => {
    const r = parseRange('10.200.0.0/16')
    const name = hostIfName(ip('10.200.1.2'))
    expect(name).toBe('tp0ac80102')
    expect(name.length).toBeLessThanOrEqual(15)
    expect(ipOfHostIf(name, r)).toBe(ip('10.200.1.2'))
    expect(ipOfHostIf(hostIfName(ip('10.200.0.1')), r)).toBeUndefined() // the gateway is no sandbox
    expect(ipOfHostIf(hostIfName(ip('10.201.0.2')), r)).toBeUndefined() // another range's
    expect(ipOfHostIf('tp0AC80102', r)).toBeUndefined()
    expect(ipOfHostIf('tptest1', r)).toBeUndefined()
    expect(ipOfHostIf('eth0', r)).toBeUndefined()
  })
})
