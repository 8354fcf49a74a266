import { describe, expect, it } from 'vitest'
import { networkOf } from './network.js'

describe('E2B egress options as tidepool policy', () => {
  it('leaves the default policy when nothing is asked', () => {
    expect(networkOf(undefined, undefined)).toBeUndefined()
  })

  it('maps internet access on and off', () => {
    expect(networkOf(true, undefined)).toEqual({ allowedDomains: ['*'], deniedDomains: [] })
    expect(networkOf(false, undefined)).toEqual({ allowedDomains: [], deniedDomains: [] })
  })

  it('maps the allowlist idiom (deny ALL_TRAFFIC, allow some), and a denylist on open internet', () => {
    expect(networkOf(undefined, { denyOut: ['0.0.0.0/0'], allowOut: ['api.example.com', '*.npmjs.org'] })).toEqual({ allowedDomains: ['api.example.com', '*.npmjs.org'], deniedDomains: [] })
    expect(networkOf(undefined, { denyOut: ['evil.example.com'] })).toEqual({ allowedDomains: ['*'], deniedDomains: ['evil.example.com'] })
    expect(networkOf(false, { allowOut: ['Example.com'] })).toEqual({ allowedDomains: ['example.com'], deniedDomains: [] })
  })

  it('lets an allowOut entry win over the same denyOut entry, as E2B does', () => {
    expect(networkOf(undefined, { denyOut: ['0.0.0.0/0', 'a.example.com'], allowOut: ['a.example.com'] })).toEqual({ allowedDomains: ['a.example.com'], deniedDomains: [] })
  })

  it('refuses IP ranges, non-strings and non-booleans with the field named', () => {
    expect(() => networkOf(undefined, { allowOut: ['10.0.0.0/8'] })).toThrow(/network.allowOut\[0\] is an IP range/)
    expect(() => networkOf(undefined, { denyOut: [3] })).toThrow(/network.denyOut\[0\]/)
    expect(() => networkOf('yes', undefined)).toThrow(/allow_internet_access must be a boolean/)
    expect(() => networkOf(undefined, [])).toThrow(/network must be an object/)
  })
})
