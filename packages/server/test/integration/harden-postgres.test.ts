/**
 * The control plane on a PostgreSQL store with frozen prototypes, as `tidepool up` runs it: the `pg`
 * driver, kysely's PostgreSQL dialect and the audit chain must not rely on assigning inherited names
 * (the "override mistake" throws once Object.prototype is frozen). Freezing is process-wide; vitest gives
 * this file its own worker, and it freezes only after the plane is built, as main.ts does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freezePrototypes } from '../../src/core/harden.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { testPlane, type TestPlane } from '../../src/testing/control-plane.js'
import { dataSkip, startTestPg, storeDatabase, type TestPg } from './support/data-pg.js'

const json = async (r: Response) => (await r.json()) as Record<string, any>

describe.skipIf(Boolean(dataSkip))(`frozen prototypes on a PostgreSQL store${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let pg: TestPg
  let tp: TestPlane

  beforeAll(async () => {
    pg = await startTestPg('harden')
    tp = await testPlane(new FakeRuntime(), { storeUrl: await storeDatabase(pg, 'harden') })
    freezePrototypes()
  })
  afterAll(async () => {
    await tp?.dispose()
    await pg?.stop()
  })

  it('sandboxes, tokens, runs, JUnit, triage and audit verify work; pollution throws', async () => {
    expect(tp.svc.store.dialect).toBe('postgres')
    expect(() => {
      ;(Object.prototype as Record<string, unknown>).X = 1
    }).toThrow(TypeError)
    const s = await json(await tp.call('POST', '/v1/sandboxes', { body: { metadata: { team: 'a' } } }))
    expect(s.state).toBe('running')
    expect((await json(await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['echo', 'hi'] } }))).exitCode).toBe(0)
    expect((await json(await tp.call('GET', '/v1/sandboxes?metadata.team=a'))).items.map((x: { id: string }) => x.id)).toEqual([s.id])
    expect((await tp.call('POST', '/v1/tokens', { body: { project: 'p', scopes: ['runs:write'] } })).status).toBe(201)
    expect((await tp.call('POST', '/v1/runs', { body: { id: 'run-1', commit: 'abc', branch: 'main' } })).status).toBe(201)
    const junit = '<testsuites><testsuite name="s"><testcase classname="a" name="t"><failure message="m">x</failure></testcase></testsuite></testsuites>'
    expect((await json(await tp.call('POST', '/v1/runs/run-1/junit?name=a.xml', { raw: junit, headers: { 'content-type': 'application/xml' } }))).failures).toBe(1)
    expect((await tp.call('POST', '/v1/runs/run-1/finish', { body: {} })).status).toBe(200)
    expect(await (await tp.call('GET', '/v1/insights/runs/run-1/triage', { headers: { accept: 'text/markdown' } })).text()).toMatch(/triage/)
    expect((await tp.call('DELETE', `/v1/sandboxes/${s.id}`)).status).toBe(204)
    expect(await json(await tp.call('POST', '/v1/audit/verify'))).toMatchObject({ ok: true })
  })
})
