import { cpus } from 'node:os'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
beforeEach(async () => {
  tp = await testPlane(new FakeRuntime(() => ({})), { quotas: { default: { sandboxes: 3, memoryMb: 1_000_000, cpu: 10_000 }, projects: {} } })
})
afterEach(() => tp.dispose())

const json = async (r: Response) => (await r.json()) as { error: unknown } & Record<string, any>

describe('sandboxes: the cpu limit', () => {
  const host = cpus().length
  const refusal = {
    code: 'invalid_request',
    message: `resources.cpu must be at most ${host} (the host's cores) (got ${host + 1})`,
    details: [{ path: 'resources.cpu', message: `at most ${host}` }],
  }

  it('refuses more cores than the host has at create, and creates nothing', async () => {
    const r = await tp.call('POST', '/v1/sandboxes', { body: { resources: { cpu: host + 1 } } })
    expect(r.status).toBe(400)
    expect((await json(r)).error).toMatchObject(refusal)
    expect((await json(await tp.call('GET', '/v1/sandboxes'))).items).toEqual([])
  })

  it('refuses them at resize with the same error, and leaves the sandbox as it was', async () => {
    const sbx = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { cpu: 1 } } }))
    const r = await tp.call('PATCH', `/v1/sandboxes/${sbx.id}`, { body: { resources: { cpu: host + 1 } } })
    expect(r.status).toBe(400)
    expect((await json(r)).error).toMatchObject(refusal)
    expect((await json(await tp.call('GET', `/v1/sandboxes/${sbx.id}`))).resources.cpu).toBe(1)
  })
})
