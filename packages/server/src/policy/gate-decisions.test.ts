import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Principal } from '@tidepool/sdk'
import { afterAll, describe, expect, it } from 'vitest'
import { builtinActions } from '../actions/catalog.js'
import { silentLogger } from '../core/log.js'
import { PolicyGate } from './gate.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-policy-gate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const gate = (files: string[]) => new PolicyGate({ files, actions: [...builtinActions.values()], lookup: async () => undefined, log: silentLogger })
const alice: Principal = { tokenId: 'tok_alice', name: 'alice', project: 'pay', scopes: ['gate:approve', 'gate:promote'] }
const agent: Principal = { tokenId: 'tok_agent', name: 'agent', project: 'pay', scopes: ['gate:propose'] }
const req = (principal: Principal, action: 'gate:approve' | 'gate:promote', more: Partial<{ destructive: boolean; rowsChanged: number }> = {}) => ({
  principal,
  action,
  verdict: 'pass',
  destructive: false,
  heavyLocks: false,
  rowsChanged: 10,
  target: 'gtg_abcdef123456',
  ...more,
})

describe('gate decisions under the one policy engine (Cedar actions gate:approve, gate:promote)', () => {
  it('the default policy asks for exactly the action’s scope', () => {
    const g = gate([])
    expect(g.decideGate(req(alice, 'gate:approve'))).toMatchObject({ allow: true })
    expect(g.decideGate(req(alice, 'gate:promote'))).toMatchObject({ allow: true })
    expect(g.decideGate(req(agent, 'gate:approve'))).toEqual({ allow: false, reason: 'no policy permits gate:approve' })
  })

  it('a policy file can forbid approving destructive or large changes, using what the rehearsal found', () => {
    const file = join(dir, 'careful.cedar')
    writeFileSync(
      file,
      `@id("scopes")\npermit (principal, action, resource) when { principal.scopes.containsAll(context.requiredScopes) };\n` +
        `@id("no-destructive")\nforbid (principal, action == Action::"gate:approve", resource) when { context has destructive && context.destructive };\n` +
        `@id("small-promotions")\nforbid (principal, action in Action::"gate", resource) when { context has rowsChanged && context.rowsChanged > 1000 };\n`,
    )
    const g = gate([file])
    expect(g.decideGate(req(alice, 'gate:approve', { destructive: true }))).toEqual({ allow: false, reason: 'gate:approve is forbidden by policy no-destructive' })
    expect(g.decideGate(req(alice, 'gate:promote', { destructive: true }))).toMatchObject({ allow: true })
    expect(g.decideGate(req(alice, 'gate:promote', { rowsChanged: 5000 }))).toEqual({ allow: false, reason: 'gate:promote is forbidden by policy small-promotions' })
  })
})
