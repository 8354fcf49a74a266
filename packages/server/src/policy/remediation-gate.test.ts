import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RemediationKind } from '@tidepool/sdk'
import { afterAll, describe, expect, it } from 'vitest'
import { builtinActions } from '../actions/catalog.js'
import { silentLogger } from '../core/log.js'
import { PolicyGate } from './gate.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-policy-rem-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const gate = (files: string[]) => new PolicyGate({ files, actions: [...builtinActions.values()], lookup: async () => undefined, log: silentLogger })
const system = (kind: string, auto = true) => ({ project: 'pay', kind, auto, actor: 'system:remediation' })

describe('remediations under the one policy engine', () => {
  it('the default policy permits every remediation kind, automatic or by hand', () => {
    const g = gate([])
    for (const kind of RemediationKind.options) {
      expect(g.decideRemediation(system(kind)), kind).toMatchObject({ allow: true })
      expect(g.decideRemediation({ ...system(kind, false), actor: 'tok_alice' }), kind).toMatchObject({ allow: true })
    }
  })

  it('a policy file can keep one kind from being applied automatically, and names itself', () => {
    const file = join(dir, 'no-auto-quarantine.cedar')
    writeFileSync(
      file,
      `@id("admin")\npermit (principal, action, resource) when { principal.scopes.contains("admin") };\n` +
        `@id("scopes")\npermit (principal, action, resource) when { principal.scopes.containsAll(context.requiredScopes) };\n` +
        `@id("no-auto-quarantine")\nforbid (principal, action == Action::"remediation:quarantine", resource) when { context has auto && context.auto };\n` +
        `@id("only-system-resizes")\nforbid (principal, action == Action::"remediation:resize", resource) unless { principal == Token::"system:remediation" };\n`,
    )
    const g = gate([file])
    expect(g.decideRemediation(system('quarantine'))).toEqual({ allow: false, reason: 'remediation:quarantine is forbidden by policy no-auto-quarantine' })
    expect(g.decideRemediation({ ...system('quarantine', false), actor: 'tok_alice' })).toMatchObject({ allow: true })
    expect(g.decideRemediation(system('rerun'))).toMatchObject({ allow: true })
    expect(g.decideRemediation(system('resize'))).toMatchObject({ allow: true })
    expect(g.decideRemediation({ ...system('resize', false), actor: 'tok_alice' })).toEqual({ allow: false, reason: 'remediation:resize is forbidden by policy only-system-resizes' })
  })

  it('a policy naming a remediation kind that does not exist is refused at load', () => {
    const file = join(dir, 'typo.cedar')
    writeFileSync(file, `@id("typo")\nforbid (principal, action == Action::"remediation:rerunn", resource);\n`)
    expect(() => gate([file])).toThrow(/typo\.cedar:2:\d+: .*remediation:rerunn/)
  })
})
