/**
 * The audit log on PostgreSQL: a lone surrogate or a NUL reaching AuditLog.append (which PostgreSQL
 * text cannot hold as such) still makes a record that verifies after reading back, and deleting the
 * newest records shows against the signed head.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { testPlane, type TestPlane } from '../../src/testing/control-plane.js'
import { dataSkip, startTestPg, storeDatabase, type TestPg } from './support/data-pg.js'

describe.skipIf(Boolean(dataSkip))(`audit log on PostgreSQL${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let pg: TestPg
  let tp: TestPlane

  beforeAll(async () => {
    pg = await startTestPg('audit')
    tp = await testPlane(new FakeRuntime(), { storeUrl: await storeDatabase(pg, 'audit') })
  })
  afterAll(async () => {
    await tp?.dispose()
    await pg?.stop()
  })

  it('records a lone surrogate and a NUL exactly, verifies after read-back, and catches a deleted tail', async () => {
    expect(tp.svc.store.dialect).toBe('postgres')
    await tp.svc.audit.append({ actor: 'system:\ud800', project: 'p', action: 'createToken', target: 'tok_\u0000\udc00', outcome: 'policy_denied', data: { name: '\ud800\u0000' } })
    for (let i = 0; i < 4; i++) await tp.svc.audit.append({ actor: 'system:test', project: 'p', action: 'test', outcome: 'ok', data: { i } })
    const ok = await tp.svc.audit.verify()
    expect(ok.problems).toEqual([])
    expect(ok).toMatchObject({ ok: true, records: 5, signedThrough: 5 })
    const [first] = await tp.svc.audit.list({ limit: 1 })
    expect(first).toMatchObject({ actor: 'system:\ud800', target: 'tok_\u0000\udc00', data: { name: '\ud800\u0000' } })

    await pg.sql('tidepool_audit', 'delete from audit where seq > 3')
    const cut = await tp.svc.audit.verify()
    expect(cut.ok).toBe(false)
    expect(cut.problems.map((p) => p.problem).join('\n')).toMatch(/chain ends at seq 3.*newest records were deleted/)
  })
})
