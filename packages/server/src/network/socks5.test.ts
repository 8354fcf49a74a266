import { describe, expect, it } from 'vitest'
import { parseGreeting, parseRequest, reply } from './socks5.js'

describe('SOCKS5 parsers', () => {
  it('greeting: needs the whole method list, and sees whether no-auth is offered', () => {
    expect(parseGreeting(Buffer.from([5]))).toEqual({ kind: 'need-more' })
    expect(parseGreeting(Buffer.from([5, 2, 2]))).toEqual({ kind: 'need-more' })
    expect(parseGreeting(Buffer.from([5, 2, 2, 0]))).toEqual({ kind: 'ok', consumed: 4, noAuth: true })
    expect(parseGreeting(Buffer.from([5, 1, 2]))).toEqual({ kind: 'ok', consumed: 3, noAuth: false })
    expect(parseGreeting(Buffer.from([4, 1, 0])).kind).toBe('invalid')
  })
  it('request: domain, IPv4 and IPv6 (compressed) destinations', () => {
    const name = Buffer.from('example.com')
    expect(parseRequest(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([1, 187])]))).toEqual({ kind: 'ok', consumed: 18, host: 'example.com', port: 443 })
    expect(parseRequest(Buffer.from([5, 1, 0, 1, 10, 0, 0, 1, 0, 80]))).toEqual({ kind: 'ok', consumed: 10, host: '10.0.0.1', port: 80 })
    const v6 = Buffer.from([5, 1, 0, 4, ...Array(15).fill(0), 1, 0, 80])
    expect(parseRequest(v6)).toEqual({ kind: 'ok', consumed: 22, host: '::1', port: 80 })
    expect(parseRequest(Buffer.from([5, 1, 0, 3, 5, 97]))).toEqual({ kind: 'need-more' })
  })
  it('refuses BIND/UDP and unknown address types with the matching reply codes', () => {
    expect(parseRequest(Buffer.from([5, 2, 0, 1, 0, 0, 0, 0, 0, 0]))).toMatchObject({ kind: 'invalid', reply: 7 })
    expect(parseRequest(Buffer.from([5, 1, 0, 9, 0, 0, 0, 0, 0, 0]))).toMatchObject({ kind: 'invalid', reply: 8 })
    expect([...reply(2)]).toEqual([5, 2, 0, 1, 0, 0, 0, 0, 0, 0])
  })
})
