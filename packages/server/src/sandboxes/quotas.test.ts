import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
beforeEach(async () => {
  tp = await testPlane(new FakeRuntime(() => ({})), { quotas: { default: { sandboxes: 10, memoryMb: 100_000, cpu: 10, pids: 1000 }, projects: {} } })
})
afterEach(() => tp.dispose())

const json = async (r: Response) => (await r.json()) as Record<string, any>

describe("the pids quota (sum of pids limits of a project's live sandboxes)", () => {
  it('refuses a create or a resize that passes it with quota_exceeded and its figures, and creates nothing', async () => {
    const a = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { pids: 600 } } }))
    expect(a.resources.pids).toBe(600)
    const over = await tp.call('POST', '/v1/sandboxes', { body: { resources: { pids: 500 } } })
    expect(over.status).toBe(429)
    expect((await json(over)).error).toMatchObject({
      code: 'quota_exceeded',
      message: expect.stringMatching(/pids quota: limit 1000, in use 600, requested 500/),
      details: { scope: 'project:default:pids', limit: 1000, used: 600, requested: 500 },
    })
    expect((await json(await tp.call('GET', '/v1/sandboxes'))).items).toHaveLength(1)
    const grow = await tp.call('PATCH', `/v1/sandboxes/${a.id}`, { body: { resources: { pids: 1001 } } })
    expect(grow.status).toBe(429)
    expect((await json(grow)).error.details).toMatchObject({ scope: 'project:default:pids', used: 600, requested: 401 })
    expect((await json(await tp.call('PATCH', `/v1/sandboxes/${a.id}`, { body: { resources: { pids: 1000 } } }))).resources.pids).toBe(1000)
  })
})

describe('resources.diskMb', () => {
  it('defaults to defaults.diskMb, is taken as asked, and is refused past its schema bound', async () => {
    expect((await json(await tp.call('POST', '/v1/sandboxes', { body: {} }))).resources).toMatchObject({ diskMb: 2048 })
    expect((await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 64 } } }))).resources).toMatchObject({ diskMb: 64 })
    const bad = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 8 } } }))
    expect(bad.error).toMatchObject({ code: 'invalid_request', details: [expect.objectContaining({ path: 'resources.diskMb' })] })
  })
})

describe("the storage quota (sum of diskMb of a project's live sandboxes)", () => {
  it('refuses a create, a fork or a resize past it, names the scope, and makes nothing', async () => {
    await tp.dispose()
    tp = await testPlane(new FakeRuntime(() => ({})), { quotas: { default: { sandboxes: 10, memoryMb: 100_000, cpu: 10, pids: 1000, diskMb: 3000 }, projects: {} } })
    const a = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 2000 } } }))
    expect(a.resources.diskMb).toBe(2000)
    const over = await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 1500 } } })
    expect(over.status).toBe(429)
    expect((await json(over)).error.details).toMatchObject({ scope: 'project:default:diskMb', limit: 3000, used: 2000, requested: 1500 })
    const fork = await tp.call('POST', `/v1/sandboxes/${a.id}/fork`, { body: { count: 1 } })
    expect(fork.status).toBe(429)
    expect((await json(fork)).error.details).toMatchObject({ scope: 'project:default:diskMb' })
    const grow = await tp.call('PATCH', `/v1/sandboxes/${a.id}`, { body: { resources: { diskMb: 3001 } } })
    expect(grow.status).toBe(429)
    expect((await json(await tp.call('GET', '/v1/sandboxes'))).items).toHaveLength(1)
    expect((await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 1000 } } }))).resources.diskMb).toBe(1000)
  })
})

describe("the storage quota counts the project's snapshots (their exclusive bytes) beside live sandboxes' diskMb", () => {
  it('refuses a create while snapshots hold the room, and allows it once they are deleted', async () => {
    await tp.dispose()
    const runtime = new FakeRuntime(() => ({}))
    tp = await testPlane(runtime, { quotas: { default: { sandboxes: 10, memoryMb: 100_000, cpu: 10, pids: 1000, diskMb: 3000 }, projects: {} } })
    runtime.snapshotBytes = 1500 * 1_048_576
    const a = await json(await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 1000 } } }))
    const snap = await json(await tp.call('POST', `/v1/sandboxes/${a.id}/snapshots`, { body: {} }))
    expect(snap.exclusiveBytes).toBe(1500 * 1_048_576)
    const over = await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 1000 } } })
    expect(over.status).toBe(429)
    expect((await json(over)).error.details).toMatchObject({ scope: 'project:default:diskMb', limit: 3000, used: 2500, requested: 1000 })
    expect((await tp.call('DELETE', `/v1/snapshots/${snap.id}`)).status).toBeLessThan(300)
    expect((await tp.call('POST', '/v1/sandboxes', { body: { resources: { diskMb: 1000 } } })).status).toBe(201)
  })
})

describe('disk_full events', () => {
  const events = async (id: string) =>
    ((await json(await tp.call('GET', `/v1/sandboxes/${id}/events?limit=100`))).items as { kind: string; data: Record<string, unknown> }[]).filter((e) => e.kind === 'disk_full')
  const setup = async (disk: Record<string, number>) => {
    await tp.dispose()
    const runtime = new FakeRuntime(() => ({ exitCode: 1, stderr: 'No space left on device\n' }))
    runtime.diskStats = disk
    tp = await testPlane(runtime, { quotas: { default: { sandboxes: 10, memoryMb: 100_000, cpu: 10, pids: 1000 }, projects: {} } })
    const sbx = await json(await tp.call('POST', '/v1/sandboxes', { body: {} }))
    await tp.call('POST', `/v1/sandboxes/${sbx.id}/exec`, { body: { cmd: ['dd'] } })
    return events(sbx.id)
  }
  const MiB = 1_048_576

  it('follow a failed command while the pool every layer shares is full (scope pool), or the layer is at its diskMb (scope sandbox)', async () => {
    expect(await setup({ diskBytes: 10 * MiB, diskLimitBytes: 2048 * MiB, diskPoolBytes: 1000 * MiB, diskPoolFreeBytes: MiB })).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ scope: 'pool', diskPoolBytes: 1000 * MiB, diskPoolFreeBytes: MiB }) }),
    ])
    expect(await setup({ diskBytes: 2048 * MiB, diskLimitBytes: 2048 * MiB, diskPoolBytes: 10_000 * MiB, diskPoolFreeBytes: 5000 * MiB })).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ scope: 'sandbox', diskLimitBytes: 2048 * MiB }) }),
    ])
    expect(await setup({ diskBytes: 10 * MiB, diskLimitBytes: 2048 * MiB, diskPoolBytes: 10_000 * MiB, diskPoolFreeBytes: 5000 * MiB })).toEqual([])
  })
})
