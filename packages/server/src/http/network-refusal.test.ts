/** Egress is not built yet: a create asking for an allowlist or a denylist is refused, never silently ignored. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
beforeEach(async () => {
  tp = await testPlane(new FakeRuntime())
})
afterEach(async () => tp.dispose())

describe('POST /v1/sandboxes with network rules', () => {
  for (const field of ['allowedDomains', 'deniedDomains'] as const) {
    it(`refuses network.${field} with invalid_request naming the field, and creates nothing`, async () => {
      const r = await tp.call('POST', '/v1/sandboxes', { body: { network: { [field]: ['example.com'] } } })
      expect(r.status).toBe(400)
      const body = (await r.json()) as { error: { code: string; message: string; details: unknown } }
      expect(body.error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining(`network.${field}: egress is not available yet`), details: [{ path: `network.${field}` }] })
      const list = (await (await tp.call('GET', '/v1/sandboxes')).json()) as { items: unknown[] }
      expect(list.items).toEqual([])
    })
  }

  it('accepts empty lists (nothing to enforce)', async () => {
    const r = await tp.call('POST', '/v1/sandboxes', { body: { network: { allowedDomains: [], deniedDomains: [] } } })
    expect(r.status).toBe(201)
  })
})
