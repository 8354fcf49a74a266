import { describe, expect, it } from 'vitest'
import { decide, effectivePolicy, matchesPattern } from './policy.js'

describe('matchesPattern', () => {
  it('matches exact hosts case-insensitively, with or without a trailing dot', () => {
    expect(matchesPattern('Example.COM', 'example.com')).toBe(true)
    expect(matchesPattern('example.com.', 'example.com')).toBe(true)
    expect(matchesPattern('example.com', 'api.example.com')).toBe(false)
  })
  it('a *. wildcard matches subdomains at any depth but not the apex, and not a look-alike', () => {
    expect(matchesPattern('*.example.com', 'api.example.com')).toBe(true)
    expect(matchesPattern('*.example.com', 'a.b.example.com')).toBe(true)
    expect(matchesPattern('*.example.com', 'example.com')).toBe(false)
    expect(matchesPattern('*.example.com', 'evilexample.com')).toBe(false)
    expect(matchesPattern('*', 'anything.org')).toBe(true)
  })
})

describe('decide', () => {
  it('denies by default', () => {
    expect(decide(effectivePolicy({}), 'example.com')).toEqual({ verdict: 'denied', rule: 'default deny (no allowedDomains)' })
    expect(decide(effectivePolicy({ sandbox: { allowedDomains: [], deniedDomains: [] } }), 'example.com').verdict).toBe('denied')
  })
  it('deny wins over allow, at any level', () => {
    const p = effectivePolicy({ project: { allowedDomains: ['*.example.com'], deniedDomains: [] }, sandbox: { allowedDomains: [], deniedDomains: ['secret.example.com'] } })
    expect(decide(p, 'api.example.com').verdict).toBe('allowed')
    expect(decide(p, 'secret.example.com')).toEqual({ verdict: 'denied', rule: 'deniedDomains secret.example.com (sandbox)' })
  })
  it('intersects the allows of every level that lists any', () => {
    const p = effectivePolicy({
      project: { allowedDomains: ['*.npmjs.org', 'github.com'], deniedDomains: [] },
      template: { allowedDomains: ['registry.npmjs.org'], deniedDomains: [] },
    })
    expect(decide(p, 'registry.npmjs.org')).toEqual({ verdict: 'allowed', rule: 'allowedDomains *.npmjs.org (project), registry.npmjs.org (template)' })
    expect(decide(p, 'github.com')).toEqual({ verdict: 'denied', rule: 'not in allowedDomains (template)' })
    expect(decide(p, 'example.org').verdict).toBe('denied')
  })
  it('reads a sandbox-runtime settings file as-is', () => {
    const settings = JSON.parse('{"network":{"allowedDomains":["github.com","*.github.com","registry.npmjs.org"],"deniedDomains":["gist.github.com"]}}') as {
      network: { allowedDomains: string[]; deniedDomains: string[] }
    }
    const p = effectivePolicy({ project: settings.network })
    expect(decide(p, 'api.github.com').verdict).toBe('allowed')
    expect(decide(p, 'gist.github.com').verdict).toBe('denied')
    expect(decide(p, 'pypi.org').verdict).toBe('denied')
  })
})
