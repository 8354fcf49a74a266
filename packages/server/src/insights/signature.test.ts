import { describe, expect, it } from 'vitest'
import { isInfraLike, normalizeMessage, signatureOf } from './signature.js'

describe('normalizeMessage', () => {
  it.each([
    ['connect ECONNREFUSED 10.0.3.7:5432', 'connect ECONNREFUSED <ip>'],
    ['expected 3 to equal 4', 'expected <n> to equal <n>'],
    ['Timeout of 2000ms exceeded at /home/runner/work/app/app/src/foo.test.ts:12:5', 'Timeout of <n>ms exceeded at <path>/foo.test.ts:<line>'],
    ['sandbox sbx_k3j9x2m1q8w7 failed at 2026-01-02T10:11:12.345Z', 'sandbox <id> failed at <ts>'],
    ['user 123e4567-e89b-12d3-a456-426614174000 missing (commit deadbeef1234abcd)', 'user <uuid> missing (commit <hex>)'],
    ['segfault at 0x7ffd1234 in pid 4242', 'segfault at <addr> in pid <n>'],
    ['GET http://localhost:38211/api/v1/items?page=2 returned 500', 'GET <url> returned <n>'],
    ['listening on localhost:38211 since 10:11:12', 'listening on localhost:<port> since <time>'],
    ['C:\\Users\\ci\\src\\App.Tests\\UnitTest1.cs:line 23', '<path>/UnitTest1.cs:line <n>'],
    ['\u001b[31mexpected\u001b[39m 5 to be 6', 'expected <n> to be <n>'],
    ['build abc1234 failed; token k3j9x2m1q8w7zz', 'build <hex> failed; token <id>'],
    ['Suite28Test.test00012 keeps its identifiers', 'Suite28Test.test00012 keeps its identifiers'],
    ['AssertionError: expected "foo" but got "bar"', 'AssertionError: expected "foo" but got "bar"'],
  ])('%j → %j', (input, want) => {
    expect(normalizeMessage(input)).toBe(want)
  })
})

describe('signatureOf', () => {
  it('the same error from different tests, ports and hosts is one signature', () => {
    const a = signatureOf({ type: 'Error', message: 'connect ECONNREFUSED 10.0.3.7:5432', text: 'at a (/x/y/a.test.ts:1:2)' })
    const b = signatureOf({ type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:54321', text: 'at b (/x/y/b.test.ts:9:9)' })
    expect(a.id).toBe(b.id)
    expect(a.id).toMatch(/^sig_[0-9a-f]{12}$/)
  })
  it('different errors differ; a bare message is told apart by its top frame', () => {
    expect(signatureOf({ message: 'expected 1 to be 2' }).id).not.toBe(signatureOf({ message: 'cannot read properties of undefined' }).id)
    const x = signatureOf({ type: 'AssertionError', message: '', text: 'AssertionError\n    at Cart.total (/w/src/cart.ts:10:3)' })
    const y = signatureOf({ type: 'AssertionError', message: '', text: 'AssertionError\n    at Order.place (/w/src/order.ts:5:1)' })
    expect(x.id).not.toBe(y.id)
  })
  it('recognises infrastructure-like errors', () => {
    for (const s of [
      'connect ECONNREFUSED 1.2.3.4:5',
      'getaddrinfo ENOTFOUND db',
      'java.lang.OutOfMemoryError: Java heap space',
      'No space left on device',
      '503 Service Unavailable',
      'PSQLException: connect timed out',
    ]) {
      expect(isInfraLike(s), s).toBe(true)
    }
    for (const s of ['expected 3 to equal 4', 'TypeError: x is not a function']) expect(isInfraLike(s), s).toBe(false)
  })
})
