import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'
import { auditedSystemAction, systemActors } from './system-actor.js'
import { silentLogger } from '../core/log.js'
import type { AuditEntry } from './audit-log.js'

let tp: TestPlane
beforeEach(async () => {
  tp = await testPlane(new FakeRuntime())
})
afterEach(async () => tp.dispose())

const json = async (r: Response) => (await r.json()) as Record<string, any>
const auditOf = async (target: string) => (await json(await tp.call('GET', `/v1/audit?target=${target}`))).items as Array<Record<string, unknown>>

describe('system actors are audited like any other change', () => {
  it('a sandbox that expires leaves an audit record by system:reaper, and audit verify still passes', async () => {
    const killed = await json(await tp.call('POST', '/v1/sandboxes', { body: { timeoutMs: 1000 } }))
    const paused = await json(await tp.call('POST', '/v1/sandboxes', { body: { timeoutMs: 1000, lifecycle: { onTimeout: 'pause', autoResume: false } } }))
    tp.clock.advance(5_000)
    expect(await tp.svc.sandboxes.reapExpired()).toBe(2)

    const k = await auditOf(killed.id)
    expect(k.map((r) => [r.actor, r.action, r.outcome])).toEqual([
      [expect.stringContaining('tok_'), 'createSandbox', 'ok'],
      ['system:reaper', 'destroySandbox', 'ok'],
    ])
    expect(k[1]).toMatchObject({ project: killed.project ?? 'default', target: killed.id, data: { id: killed.id, reason: 'timeout' } })
    expect((await auditOf(paused.id)).map((r) => [r.actor, r.action])).toContainEqual(['system:reaper', 'pauseSandbox'])

    const verify = await json(await tp.call('POST', '/v1/audit/verify', { body: {} }))
    expect(verify).toMatchObject({ ok: true, problems: [] })
  })

  it('records a failed system action with its error code, and still throws it', async () => {
    const entries: AuditEntry[] = []
    const audit = { append: async (e: AuditEntry) => void entries.push(e) }
    await expect(
      auditedSystemAction(audit, silentLogger, { actor: systemActors.reconcile, project: 'p', action: 'destroySandbox', target: 'sbx_1' }, async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(entries).toEqual([{ actor: 'system:reconcile', project: 'p', action: 'destroySandbox', target: 'sbx_1', outcome: 'internal' }])
  })

  it('spells every system actor system:<name>, each once', () => {
    const names = Object.values(systemActors)
    expect(names.every((n) => /^system:[a-z-]+$/.test(n))).toBe(true)
    expect(new Set(names).size).toBe(names.length)
  })
})
