/**
 * Runs the control plane with frozen prototypes, as `tidepool up` does. Freezing is process-wide, so
 * this file freezes only after its control plane is built (vitest gives each test file its own worker).
 */
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'
import { freezePrototypes, frozenPrototypes } from './harden.js'

let tp: TestPlane
const logLines: string[] = []

beforeAll(async () => {
  tp = await testPlane(new FakeRuntime(), { port: 0 })
  freezePrototypes()
})
afterAll(() => tp.dispose())

const json = async (r: Response) => (await r.json()) as Record<string, any>

describe('frozen prototypes', () => {
  it('freezes Object, Array, Function and the primitive wrappers; pollution throws', () => {
    for (const [name, proto] of frozenPrototypes) expect(Object.isFrozen(proto), name).toBe(true)
    expect(() => {
      ;(Object.prototype as Record<string, unknown>).X = 1
    }).toThrow(TypeError)
    expect(() => {
      ;(Array.prototype as unknown as Record<string, unknown>).X = 1
    }).toThrow(TypeError)
    expect(({} as Record<string, unknown>).X).toBeUndefined()
  })

  it('the server, hono, zod, kysely on better-sqlite3 (with the audit chain), yaml and pino still work', async () => {
    const s = await json(await tp.call('POST', '/v1/sandboxes', { body: { metadata: { team: 'a' } } }))
    expect(s.state).toBe('running')
    const exec = await json(await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['echo', 'hi'] } }))
    expect(exec.exitCode).toBe(0)
    const stream = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['echo', 'hi'] }, headers: { accept: 'application/x-ndjson' } })
    expect((await stream.text()).trim().split('\n').length).toBeGreaterThan(1)
    const bad = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { memoryMb: -5 } } }))
    expect(bad.error.details[0].path).toBe('resources.memoryMb')
    expect((await json(await tp.call('GET', '/v1/sandboxes?__proto__.X=1'))).error.code).toBe('invalid_request')
    expect((await tp.call('POST', '/v1/tokens', { body: { project: 'p', scopes: ['runs:write'] } })).status).toBe(201)
    expect((await tp.call('POST', '/v1/runs', { body: { id: 'run-1', commit: 'abc', branch: 'main' } })).status).toBe(201)
    const junit = '<testsuites><testsuite name="s"><testcase classname="a" name="t"><failure message="m">x</failure></testcase></testsuite></testsuites>'
    const ingested = await json(await tp.call('POST', '/v1/runs/run-1/junit?name=a.xml', { raw: junit, headers: { 'content-type': 'application/xml' } }))
    expect(ingested.failures).toBe(1)
    expect((await tp.call('POST', '/v1/runs/run-1/finish', { body: {} })).status).toBe(200)
    const triage = await tp.call('GET', '/v1/insights/runs/run-1/triage', { headers: { accept: 'text/markdown' } })
    expect(await triage.text()).toMatch(/triage/)
    expect((await tp.call('DELETE', `/v1/sandboxes/${s.id}`)).status).toBe(204)
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).ok).toBe(true)
    expect((await tp.call('GET', '/openapi.json', { token: null })).status).toBe(200)
    expect(parseYaml('a:\n  b: [1, 2]\n')).toEqual({ a: { b: [1, 2] } })
    expect(z.object({ a: z.string() }).strict().safeParse({ a: 1 }).success).toBe(false)
    const log = pino({ level: 'info', redact: ['token'] }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }))
    log.child({ requestId: 'req_1' }).info({ token: 'secret', n: 1 }, 'op')
    expect(logLines.join('')).toMatch(/"token":"\[Redacted\]"/)
  })

  it('listens on loopback and answers over a real socket', async () => {
    const { url } = await tp.listen()
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/)
    const r = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${tp.admin}` } })
    expect(r.status).toBe(200)
    expect(((await r.json()) as { project: string }).project).toBe('default')
  })
})
