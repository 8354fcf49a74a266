import { BuildTemplateInput } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { planBuild, templateDigest } from './plan.js'

const steps = (s: unknown[]) => BuildTemplateInput.parse({ name: 'x', steps: s }).steps
const keys = (project: string, s: unknown[], base = 'sha256:base') => planBuild(project, base, steps(s), { env: {} }).steps.map((p) => p.key)

describe('planBuild', () => {
  const a = [{ copy: { path: '/a', content: 'A' } }, { env: { K: '1' } }, { run: 'make' }]

  it('is deterministic, and chains: a change moves that key and every later one, never an earlier one', () => {
    expect(keys('p', a)).toEqual(keys('p', a))
    const changed = keys('p', [a[0], { env: { K: '2' } }, a[2]])
    const orig = keys('p', a)
    expect(changed[0]).toBe(orig[0])
    expect(changed[1]).not.toBe(orig[1])
    expect(changed[2]).not.toBe(orig[2])
  })

  it('keys on the base, the project, and the bytes of a copy (not how they were encoded)', () => {
    expect(keys('p', a, 'sha256:other')[0]).not.toBe(keys('p', a)[0])
    expect(keys('q', a)[0]).not.toBe(keys('p', a)[0])
    const b64 = [{ copy: { path: '/a', content: Buffer.from('A').toString('base64'), encoding: 'base64' } }]
    expect(keys('p', b64)[0]).toBe(keys('p', [a[0]])[0])
  })

  it('runs with the env, workdir and user the steps before set; only copy and run make layers', () => {
    const plan = planBuild('p', 'sha256:base', steps([{ env: { K: '1' } }, { workdir: '/w' }, { user: 'user' }, { run: ['make', 'all'] }, { run: 'id', user: 'root' }]), { env: { BASE: 'b' } })
    expect(plan.steps.map((s) => s.action?.kind)).toEqual([undefined, undefined, undefined, 'run', 'run'])
    expect(plan.steps[3]!.action).toMatchObject({ cmd: ['make', 'all'], user: 'user', cwd: '/w', env: { BASE: 'b', K: '1', HOME: '/home/user' } })
    expect(plan.steps[4]!.action).toMatchObject({ cmd: ['/bin/sh', '-c', 'id'], user: 'root' })
    expect(plan).toMatchObject({ env: { BASE: 'b', K: '1' }, workdir: '/w', user: 'user' })
  })

  it("keys run steps (not copies) on the template's network policy; none keeps the offline keys", () => {
    const net = (allowedDomains: string[]) => planBuild('p', 'sha256:base', steps(a), { env: {}, network: { allowedDomains, deniedDomains: [] } })
    const online = net(['registry.npmjs.org'])
    const offline = keys('p', a)
    expect(online.steps[0]!.key).toBe(offline[0])
    expect(online.steps[2]!.key).not.toBe(offline[2])
    expect(net(['pypi.org']).steps[2]!.key).not.toBe(online.steps[2]!.key)
    expect(online.steps[2]!.action).toMatchObject({ kind: 'run', network: { allowedDomains: ['registry.npmjs.org'], deniedDomains: [] } })
    expect(planBuild('p', 'sha256:base', steps(a), { env: {} }).steps[2]!.action).not.toHaveProperty('network')
  })

  it('a template digest names the base and the exact layers', () => {
    expect(templateDigest('sha256:b', ['k1', 'k2'])).not.toBe(templateDigest('sha256:b', ['k2', 'k1']))
    expect(templateDigest('sha256:b', [])).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
})
