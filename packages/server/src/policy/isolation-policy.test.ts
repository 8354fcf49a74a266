import { fileURLToPath } from 'node:url'
import type { Principal } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { builtinActions } from '../actions/catalog.js'
import { callRequest } from './call.js'
import { PolicyEngine } from './engine.js'

const actions = [...builtinActions.values()]
const example = fileURLToPath(new URL('../../../../examples/policy/untrusted-gvisor.cedar', import.meta.url))
const engine = new PolicyEngine({ files: [example], actions })
const lookup = async () => undefined
const token = (name: string): Principal => ({ tokenId: 'tok_1', name, project: 'p', scopes: ['sandboxes:read', 'sandboxes:write'] })

async function allowed(p: Principal, input: Record<string, unknown>, defaultIsolation?: string): Promise<boolean> {
  const req = await callRequest(p, 'createSandbox', input, { actions: new Map(), lookup, readsResource: false, ...(defaultIsolation ? { defaultIsolation } : {}) })
  return engine.decide(p, req.action, req.resource, req.context).allow
}

describe('context.isolation of createSandbox (examples/policy/untrusted-gvisor.cedar)', () => {
  it('is what the create asks for, else runtime.defaultIsolation, else namespaces', async () => {
    const ctx = async (input: Record<string, unknown>, d?: string) =>
      (await callRequest(token('t'), 'createSandbox', input, { actions: new Map(), lookup, readsResource: false, ...(d ? { defaultIsolation: d } : {}) })).context.isolation
    expect(await ctx({ isolation: 'gvisor' }, 'namespaces')).toBe('gvisor')
    expect(await ctx({}, 'gvisor')).toBe('gvisor')
    expect(await ctx({})).toBe('namespaces')
    // Other operations carry none.
    expect((await callRequest(token('t'), 'getSandbox', { id: 'sbx_1' }, { actions: new Map(), lookup, readsResource: false })).context.isolation).toBeUndefined()
  })

  it('lets a policy require gvisor of untrusted tokens only', async () => {
    const untrusted = token('agent-9 untrusted=yes')
    expect(await allowed(untrusted, {})).toBe(false)
    expect(await allowed(untrusted, { isolation: 'namespaces' })).toBe(false)
    expect(await allowed(untrusted, { isolation: 'gvisor' })).toBe(true)
    expect(await allowed(untrusted, {}, 'gvisor')).toBe(true)
    expect(await allowed(token('ci'), {})).toBe(true)
  })
})
