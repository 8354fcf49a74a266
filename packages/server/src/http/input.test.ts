import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let runtime: FakeRuntime

beforeEach(async () => {
  runtime = new FakeRuntime()
  tp = await testPlane(runtime)
})
afterEach(async () => {
  // A test that fails must not leave a polluted prototype to the next one.
  for (const k of ['X', 'polluted', 'LD_PRELOAD']) delete (Object.prototype as Record<string, unknown>)[k]
  await tp.dispose()
})

const json = async (r: Response) => (await r.json()) as Record<string, any>
const token = async (project: string, scopes: string[]) => (await json(await tp.call('POST', '/v1/tokens', { body: { project, scopes, name: 'test' } }))).token as string
const protoKeys = () => Object.getOwnPropertyNames(Object.prototype).sort()

describe('HTTP input cannot reach a prototype', () => {
  it('?__proto__.X=1 from any token is a coded 400 and pollutes nothing; the next request of another tenant works', async () => {
    const before = protoKeys()
    const reader = await token('other', ['insights:read'])
    for (const q of ['__proto__.X=1', 'constructor.prototype.X=1', 'a.__proto__=1', '__proto__=1', 'prototype.X=1']) {
      const r = await tp.call('GET', `/v1/runs?${q}`, { token: reader })
      expect(r.status, q).toBe(400)
      expect((await json(r)).error.code, q).toBe('invalid_request')
    }
    const named = await json(await tp.call('GET', '/v1/runs?__proto__.X=1', { token: reader }))
    expect(named.error.message).toMatch(/__proto__: the key "__proto__" is not allowed/)
    expect(({} as Record<string, unknown>).X).toBeUndefined()
    expect(protoKeys()).toEqual(before)
    // Every later request still validates as before (the starting code answered "unknown field(s) X").
    const created = await tp.call('POST', '/v1/sandboxes', { body: {} })
    expect(created.status).toBe(201)
  })

  it('JSON bodies with prototype keys at any depth are refused with the field named', async () => {
    const cases: [unknown, string][] = [
      [JSON.parse('{"__proto__":{"polluted":1}}'), '__proto__'],
      [{ metadata: { constructor: 'x' } }, 'metadata.constructor'],
      [JSON.parse('{"metadata":{"__proto__":{"polluted":1}}}'), 'metadata.__proto__'],
      [{ envs: { prototype: 'x' } }, 'envs.prototype'],
    ]
    for (const [body, path] of cases) {
      const r = await tp.call('POST', '/v1/sandboxes', { body })
      expect(r.status, path).toBe(400)
      const e = (await json(r)).error
      expect(e.code).toBe('invalid_request')
      expect(e.details[0].path).toBe(path)
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(runtime.sandboxes.size).toBe(0)
  })

  it('a query key given as both k=v and k.x=v is a 400, not a 500', async () => {
    const r = await tp.call('GET', '/v1/sandboxes?metadata=x&metadata.team=a')
    expect(r.status).toBe(400)
    expect((await json(r)).error.code).toBe('invalid_request')
  })
})

describe('HTTP input strings are well-formed UTF-16', () => {
  it('a lone surrogate in a body value or key is a 400 naming the field; nothing is made and the audit chain verifies', async () => {
    const lone = await tp.call('POST', '/v1/tokens', { raw: '{"project":"p","scopes":["admin"],"name":"\\ud800"}', headers: { 'content-type': 'application/json' } })
    expect(lone.status).toBe(400)
    const e = (await json(lone)).error
    expect(e.code).toBe('invalid_request')
    expect(e.details[0].path).toBe('name')
    expect(e.message).toMatch(/lone surrogate U\+D800/)
    const key = await tp.call('POST', '/v1/sandboxes', { raw: '{"metadata":{"\\udfff":"x"}}', headers: { 'content-type': 'application/json' } })
    expect(key.status).toBe(400)
    // A well-formed pair is fine.
    expect((await tp.call('POST', '/v1/sandboxes', { body: { metadata: { team: '\u{1F600}' } } })).status).toBe(201)
    const tokens = await json(await tp.call('GET', '/v1/tokens'))
    expect(tokens.items).toHaveLength(1) // only the admin
    expect((await json(await tp.call('POST', '/v1/audit/verify'))).ok).toBe(true)
  })
})

describe('request ids', () => {
  it('the server names every request; a client x-request-id never becomes the audit requestId', async () => {
    const r = await tp.call('POST', '/v1/sandboxes', { body: {}, headers: { 'x-request-id': 'req_forged' } })
    expect(r.status).toBe(201)
    const id = r.headers.get('x-request-id')
    expect(id).toMatch(/^req_/)
    expect(id).not.toBe('req_forged')
    const audit = await json(await tp.call('GET', '/v1/audit'))
    expect(audit.items.map((a: { requestId?: string }) => a.requestId)).not.toContain('req_forged')
    expect(audit.items.map((a: { requestId?: string }) => a.requestId)).toContain(id)
  })
})

describe('authorisation comes before the body', () => {
  it('a token without the scope gets 403 before its body is read or validated', async () => {
    const reader = await token('p', ['insights:read'])
    let pulled = 0
    // highWaterMark 0: the stream is pulled only when someone reads the body.
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulled++
          c.enqueue(new TextEncoder().encode('{"not json'))
          c.close()
        },
      },
      { highWaterMark: 0 },
    )
    const r = await tp.app.request('/v1/sandboxes', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit)
    expect(r.status).toBe(403)
    expect((await json(r)).error.code).toBe('policy_denied')
    expect(pulled).toBe(0)
    // Invalid input without the scope: denied, not validated (the starting code answered 400).
    const bad = await tp.call('POST', '/v1/sandboxes', { token: reader, body: { resources: { memoryMb: -5 } } })
    expect(bad.status).toBe(403)
  })

  it('JSON bodies are bounded per operation: 1 MiB by default, more where the operation says so', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024)
    const r = await tp.call('POST', '/v1/sandboxes', { body: { metadata: { big } } })
    expect(r.status).toBe(413)
    expect((await json(r)).error.code).toBe('payload_too_large')
    const s = await json(await tp.call('POST', '/v1/sandboxes', { body: {} }))
    const exec = await tp.call('POST', `/v1/sandboxes/${s.id}/exec`, { body: { cmd: ['cat'], stdin: big } })
    expect(exec.status).toBe(200)
  })
})
