import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { operations, scopes, type OpName, type Principal, type Scope } from '@tidepool/sdk'
import { afterAll, describe, expect, it } from 'vitest'
import { builtinActions } from '../actions/catalog.js'
import { callRequest } from './call.js'
import { PolicyEngine } from './engine.js'

const actions = [...builtinActions.values()]
const actionMap = new Map(actions.map((a) => [a.name, a]))
const dir = mkdtempSync(join(tmpdir(), 'tidepool-policy-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const principal = (s: Scope[], name = 'ci'): Principal => ({ tokenId: 'tok_1', name, project: 'p', scopes: s })
const lookup = async () => ({ project: 'p', state: 'running', labels: { run: 'r1' } })

/** Today's rule, written out: admin, or every scope the call needs. */
function scopeAnswer(p: Principal, name: OpName, input: Record<string, unknown>): boolean {
  if (p.scopes.includes('admin')) return true
  const need = new Set<string>([operations[name].scope])
  const a = name === 'runAction' ? actionMap.get(input.name as string) : undefined
  if (a?.needsSandbox && input.sandboxId) need.add('sandboxes:write')
  if (a?.requires) need.add(a.requires)
  return [...need].every((s) => p.scopes.includes(s as Scope))
}

describe('the default policy', () => {
  const engine = new PolicyEngine({ files: [], actions })
  it('answers exactly as the scopes do, for every operation, every action and every single scope', async () => {
    const calls: [OpName, Record<string, unknown>][] = (Object.keys(operations) as OpName[]).map((n) => [n, { id: 'sbx_1' }])
    for (const a of actions) calls.push(['runAction', { name: a.name, sandboxId: 'sbx_1' }], ['runAction', { name: a.name }])
    calls.push(['runAction', { name: 'no.such.action' }])
    let checked = 0
    for (const s of [[], ...scopes.map((x) => [x]), ['sandboxes:read', 'sandboxes:write'], ['sandboxes:read', 'data:read']] as Scope[][]) {
      const p = principal(s)
      for (const [name, input] of calls) {
        const req = await callRequest(p, name, input, { actions: actionMap, lookup, readsResource: engine.readsResource })
        const d = engine.decide(p, req.action, req.resource, req.context)
        expect({ name, input, s, allow: d.allow }).toEqual({ name, input, s, allow: scopeAnswer(p, name, input) })
        checked++
      }
    }
    expect(checked).toBeGreaterThan(500)
    expect(engine.readsResource).toBe(false)
  })

  it('names the policy that permitted a call', () => {
    const d = engine.decide(principal(['admin']), 'deleteSandbox', { kind: 'project', id: 'p' }, { op: 'deleteSandbox', requiredScopes: ['sandboxes:write'], readOnly: false })
    expect(d).toMatchObject({ allow: true, policies: ['admin'] })
  })
})

describe('policy files', () => {
  it('refuses a policy that breaks the schema, naming file, line and column', () => {
    const file = join(dir, 'bad.cedar')
    writeFileSync(file, '@id("ok")\npermit (principal, action, resource);\n\n@id("bad")\npermit (principal, action, resource)\n  when { principal.nosuch == "x" };\n')
    expect(() => new PolicyEngine({ files: [file], actions })).toThrow(new RegExp(`${file}:6:10: .*nosuch`))
  })

  it('refuses a policy that does not parse, and an action the schema does not know', () => {
    const file = join(dir, 'syntax.cedar')
    writeFileSync(file, 'permit (principal, action == Action::"exec", resource)\n  when { principal.scopes.contains( };\n')
    expect(() => new PolicyEngine({ files: [file], actions })).toThrow(/syntax\.cedar:2:\d+/)
    writeFileSync(file, 'permit (principal, action == Action::"nope", resource);\n')
    expect(() => new PolicyEngine({ files: [file], actions })).toThrow(/syntax\.cedar:1:\d+: .*nope/)
  })

  it('reloads a changed file; a reload of an invalid one keeps the old set and says why', () => {
    const file = join(dir, 'reload.cedar')
    writeFileSync(file, '@id("all") permit (principal, action, resource);\n')
    const engine = new PolicyEngine({ files: [file], actions })
    const ask = () => engine.decide(principal([]), 'getSandbox', { kind: 'project', id: 'p' }, { op: 'getSandbox', requiredScopes: ['sandboxes:read'], readOnly: true })
    expect(ask()).toMatchObject({ allow: true, policies: ['all'] })
    expect(ask()).toMatchObject({ allow: true }) // cached
    writeFileSync(file, '@id("broken") permit (principal, action, resource) when { context.nosuch };\n')
    expect(() => engine.reload()).toThrow(/reload\.cedar:1:\d+: .*nosuch/)
    expect(ask()).toMatchObject({ allow: true, policies: ['all'] })
    expect(engine.status()).toMatchObject({ policies: ['all'], version: 1 })
    writeFileSync(file, '@id("all") permit (principal, action, resource);\n@id("no-reads") forbid (principal, action in Action::"readOnly", resource);\n')
    expect(engine.reload()).toMatchObject({ policies: ['all', 'no-reads'], version: 2 })
    expect(ask()).toMatchObject({ allow: false, policies: ['no-reads'] })
  })

  it('refuses two policies with one id', () => {
    const a = join(dir, 'a.cedar')
    const b = join(dir, 'b.cedar')
    writeFileSync(a, '@id("same") permit (principal, action, resource);\n')
    writeFileSync(b, '@id("same") forbid (principal, action, resource);\n')
    expect(() => new PolicyEngine({ files: [a, b], actions })).toThrow(/policy id "same" is used twice/)
  })
})
