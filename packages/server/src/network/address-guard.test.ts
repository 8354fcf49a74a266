import { describe, expect, it } from 'vitest'
import { forbiddenReason } from './address-guard.js'

describe('forbiddenReason', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '100.64.1.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    'fc00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::127.0.0.1',
    '2002:a00:1::1',
    '2002:7f00:1::',
  ])('refuses %s', (a) => {
    expect(forbiddenReason(a)).toBeTypeOf('string')
  })
  it.each(['93.184.216.34', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])('allows the public address %s', (a) => {
    expect(forbiddenReason(a)).toBeUndefined()
  })
  it('names the range', () => {
    expect(forbiddenReason('169.254.169.254')).toBe('link-local or metadata address 169.254.169.254 (169.254.0.0/16)')
    expect(forbiddenReason('not-an-ip')).toBe('not an IP address')
    expect(forbiddenReason('64:ff9b::a9fe:a9fe')).toBe('NAT64 address 64:ff9b::a9fe:a9fe embedding a link-local or metadata address 169.254.169.254 (169.254.0.0/16)')
  })
})
