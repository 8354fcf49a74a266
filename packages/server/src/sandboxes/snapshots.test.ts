import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let runtime: FakeRuntime
const plane = async (overrides: Record<string, unknown> = {}, reply?: ConstructorParameters<typeof FakeRuntime>[0]) => {
  runtime = new FakeRuntime(reply)
  tp = await testPlane(runtime, { quotas: { default: { sandboxes: 6, memoryMb: 1_000_000, cpu: 10_000 }, projects: {} }, ...overrides })
  return tp
}
afterEach(() => tp?.dispose())

const json = async (r: Response) => (await r.json()) as Record<string, any>
const post = async (path: string, body: unknown = {}, token?: string) => tp.call('POST', path, { body, ...(token ? { token } : {}) })
const sandbox = async () => json(await post('/v1/sandboxes', { resources: { cpu: 0.1 } }))
const snapshot = async (id: string, body: unknown = {}) => json(await post(`/v1/sandboxes/${id}/snapshots`, body))
const audit = async () => (await json(await tp.call('GET', '/v1/audit?limit=1000'))).items as { action: string; actor: string; outcome: string; target: string }[]

describe('snapshots', () => {
  it('snapshots a sandbox: the record says of what, by whom, and the runtime holds the capture under the same id', async () => {
    await plane()
    const sbx = await sandbox()
    const r = await post(`/v1/sandboxes/${sbx.id}/snapshots`, { labels: { step: 'one' }, ttlMs: 60_000 })
    expect(r.status).toBe(201)
    const snap = await json(r)
    expect(snap).toMatchObject({ sandboxId: sbx.id, template: 'default', labels: { step: 'one' }, sizeBytes: 0, exclusiveBytes: 0, expiresAt: '2026-01-01T00:01:00.000Z' })
    expect(snap.id).toMatch(/^snap_[a-z0-9]{16}$/)
    expect(snap.parent).toBeUndefined()
    expect([...runtime.snapshotRefs.keys()]).toEqual([snap.id])
    expect(await json(await tp.call('GET', `/v1/snapshots/${snap.id}`))).toEqual(snap)
  })

  it('lists page by page, filtered by sandbox and by label', async () => {
    await plane()
    const a = await sandbox()
    const b = await sandbox()
    const ids = [(await snapshot(a.id, { labels: { k: 'x' } })).id, (await snapshot(a.id)).id, (await snapshot(b.id, { labels: { k: 'x' } })).id].sort()
    const first = await json(await tp.call('GET', '/v1/snapshots?limit=2'))
    expect(first.items.map((s: any) => s.id)).toEqual(ids.slice(0, 2))
    const second = await json(await tp.call('GET', `/v1/snapshots?limit=2&nextToken=${first.nextToken}`))
    expect(second.items.map((s: any) => s.id)).toEqual(ids.slice(2))
    expect(second.nextToken).toBeUndefined()
    expect((await json(await tp.call('GET', `/v1/snapshots?sandboxId=${a.id}`))).items).toHaveLength(2)
    expect((await json(await tp.call('GET', '/v1/snapshots?labels.k=x'))).items).toHaveLength(2)
    expect((await json(await tp.call('GET', `/v1/snapshots?labels.k=x&sandboxId=${b.id}`))).items).toHaveLength(1)
  })

  it('delete is idempotent and removes the runtime capture', async () => {
    await plane()
    const snap = await snapshot((await sandbox()).id)
    expect((await tp.call('DELETE', `/v1/snapshots/${snap.id}`)).status).toBe(204)
    expect(runtime.snapshotRefs.size).toBe(0)
    expect((await tp.call('DELETE', `/v1/snapshots/${snap.id}`)).status).toBe(204)
    expect((await tp.call('GET', `/v1/snapshots/${snap.id}`)).status).toBe(404)
  })

  it('refuses to snapshot a stopped sandbox, and to delete a snapshot a live sandbox started from', async () => {
    await plane()
    const sbx = await sandbox()
    const snap = await snapshot(sbx.id)
    const child = await json(await post('/v1/sandboxes', { fromSnapshot: snap.id }))
    const refused = await tp.call('DELETE', `/v1/snapshots/${snap.id}`)
    expect(refused.status).toBe(409)
    expect((await json(refused)).error.message).toContain(`live sandbox ${child.id} started from it`)
    expect(runtime.snapshotRefs.has(snap.id)).toBe(true)
    await tp.call('DELETE', `/v1/sandboxes/${child.id}`)
    expect((await tp.call('DELETE', `/v1/snapshots/${snap.id}`)).status).toBe(204)
    await tp.call('DELETE', `/v1/sandboxes/${sbx.id}`)
    const stopped = await post(`/v1/sandboxes/${sbx.id}/snapshots`)
    expect(stopped.status).toBe(409)
    expect((await json(stopped)).error.message).toBe(`cannot snapshot sandbox ${sbx.id}: it is stopped (killed_by_user)`)
  })

  it('a snapshot racing a destroy: the destroy, called first, wins; the snapshot is refused and leaves nothing', async () => {
    await plane()
    const sbx = await sandbox()
    const [destroyed, snap] = await Promise.all([tp.call('DELETE', `/v1/sandboxes/${sbx.id}`), post(`/v1/sandboxes/${sbx.id}/snapshots`)])
    expect(destroyed.status).toBe(204)
    expect(snap.status).toBe(409)
    expect(runtime.snapshotRefs.size).toBe(0)
    expect(await tp.svc.store.db.selectFrom('snapshots').selectAll().execute()).toEqual([])
  })

  it('a runtime without snapshots is refused with a message naming it', async () => {
    await plane()
    Object.defineProperty(runtime, 'snapshots', { value: undefined })
    const r = await post(`/v1/sandboxes/${(await sandbox()).id}/snapshots`)
    expect(r.status).toBe(400)
    expect((await json(r)).error.message).toContain('not supported by the fake runtime')
  })

  it('per-project snapshot quota', async () => {
    await plane({ snapshots: { maxPerProject: 1 } })
    const sbx = await sandbox()
    await snapshot(sbx.id)
    const r = await post(`/v1/sandboxes/${sbx.id}/snapshots`)
    expect(r.status).toBe(429)
    expect((await json(r)).error.details).toMatchObject({ scope: 'project:default:snapshots', limit: 1, used: 1 })
    expect(runtime.snapshotRefs.size).toBe(1)
  })
})

describe('fromSnapshot', () => {
  it('starts the runtime from the snapshot and records it as the parent', async () => {
    await plane()
    const snap = await snapshot((await sandbox()).id)
    const child = await json(await post('/v1/sandboxes', { fromSnapshot: snap.id }))
    expect(child.parentSnapshot).toBe(snap.id)
    expect(runtime.sandboxes.get(child.id)!.spec.fromSnapshot).toBe(snap.id)
    expect((await snapshot(child.id)).parent).toBe(snap.id)
  })

  it('another explicit template contradicts the snapshot and is refused', async () => {
    await plane()
    const snap = await snapshot((await sandbox()).id)
    const r = await post('/v1/sandboxes', { fromSnapshot: snap.id, template: 'base' })
    expect(r.status).toBe(400)
    expect((await json(r)).error.details).toEqual([{ path: 'template', message: 'contradicts fromSnapshot' }])
    expect(runtime.sandboxes.size).toBe(1)
  })

  it('an unknown snapshot is not_found and makes nothing', async () => {
    await plane()
    const r = await post('/v1/sandboxes', { fromSnapshot: 'snap_doesnotexist0000' })
    expect(r.status).toBe(404)
    expect((await json(r)).error.message).toBe('snapshot snap_doesnotexist0000 not found')
    expect(runtime.sandboxes.size).toBe(0)
  })
})

describe('fork', () => {
  it('makes count sandboxes from one fork point, kept until the forks end, then deleted by retention', async () => {
    await plane()
    const parent = await json(await post('/v1/sandboxes', { metadata: { role: 'parent' }, resources: { cpu: 0.1 } }))
    const r = await post(`/v1/sandboxes/${parent.id}/fork`, { count: 3 })
    expect(r.status).toBe(201)
    const out = await json(r)
    expect(out.items).toHaveLength(3)
    for (const f of out.items) expect(f).toMatchObject({ state: 'running', parentSnapshot: out.snapshotId, metadata: { role: 'parent' } })
    expect((await tp.call('DELETE', `/v1/snapshots/${out.snapshotId}`)).status).toBe(409)
    await tp.svc.sandboxes.reapExpired()
    expect(runtime.snapshotRefs.has(out.snapshotId)).toBe(true)
    for (const f of out.items) await tp.call('DELETE', `/v1/sandboxes/${f.id}`)
    await tp.svc.sandboxes.reapExpired()
    expect(runtime.snapshotRefs.size).toBe(0)
    expect((await audit()).filter((a) => a.action === 'deleteSnapshot' && a.actor === 'system:reaper').map((a) => a.target)).toEqual([out.snapshotId])
  })

  it('count is bounded by the contract and all-or-nothing by the quota', async () => {
    await plane()
    const parent = await sandbox()
    expect((await post(`/v1/sandboxes/${parent.id}/fork`, { count: 0 })).status).toBe(400)
    expect((await post(`/v1/sandboxes/${parent.id}/fork`, { count: 17 })).status).toBe(400)
    const over = await post(`/v1/sandboxes/${parent.id}/fork`, { count: 6 })
    expect(over.status).toBe(429)
    expect(runtime.sandboxes.size).toBe(1)
    expect(runtime.snapshotRefs.size).toBe(0)
  })

  it('a start that fails destroys the forks started and the fork point, and says so', async () => {
    await plane()
    const parent = await sandbox()
    runtime.failNextStart = Object.assign(new Error('no more loop devices'), { name: 'RuntimeError', code: 'internal' })
    const r = await post(`/v1/sandboxes/${parent.id}/fork`, { count: 3 })
    expect(r.status).toBe(500)
    expect([...runtime.sandboxes.keys()]).toEqual([parent.id])
    expect(runtime.snapshotRefs.size).toBe(0)
    const live = (await json(await tp.call('GET', '/v1/sandboxes'))).items
    expect(live.map((s: any) => s.id)).toEqual([parent.id])
    expect((await json(await tp.call('GET', '/v1/snapshots'))).items).toEqual([])
  })
})

describe('reset', () => {
  it('to its start: same id, a new runtime instance from the template, state events resetting → running, background commands gone', async () => {
    await plane()
    const sbx = await sandbox()
    const before = runtime.sandboxes.get(sbx.id)!
    const bg = await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['sleep', '100'], background: true }))
    const r = await post(`/v1/sandboxes/${sbx.id}/reset`)
    expect(r.status).toBe(200)
    expect(await json(r)).toMatchObject({ id: sbx.id, state: 'running', reason: 'reset' })
    const after = runtime.sandboxes.get(sbx.id)!
    expect(after).not.toBe(before)
    expect(after.spec.fromSnapshot).toBeUndefined()
    expect((await json(await tp.call('GET', `/v1/sandboxes/${sbx.id}/commands`))).items).toEqual([])
    expect((await tp.call('POST', `/v1/sandboxes/${sbx.id}/commands/${bg.pid}/wait`)).status).toBe(404)
    const events = (await json(await tp.call('GET', `/v1/sandboxes/${sbx.id}/events`))).items.filter((e: any) => e.kind === 'state_changed').map((e: any) => `${e.data.to}:${e.data.reason}`)
    expect(events.slice(-2)).toEqual(['starting:resetting', 'running:reset'])
    // the old instance's watch does not take the new one down
    expect((await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['true'] })).status).toBe(200)
  })

  it('to a snapshot, and a sandbox from a snapshot back to that snapshot', async () => {
    await plane()
    const sbx = await sandbox()
    const snap = await snapshot(sbx.id)
    await post(`/v1/sandboxes/${sbx.id}/reset`, { to: snap.id })
    expect(runtime.sandboxes.get(sbx.id)!.spec.fromSnapshot).toBe(snap.id)
    const child = await json(await post('/v1/sandboxes', { fromSnapshot: snap.id }))
    await post(`/v1/sandboxes/${child.id}/reset`)
    expect(runtime.sandboxes.get(child.id)!.spec.fromSnapshot).toBe(snap.id)
    expect((await post(`/v1/sandboxes/${sbx.id}/reset`, { to: 'snap_doesnotexist0000' })).status).toBe(404)
  })
})

describe('reset faults', () => {
  it('a start that fails during a reset leaves the sandbox stopped (reset_failed) with nothing of it in the runtime', async () => {
    await plane()
    const sbx = await sandbox()
    runtime.failNextStart = Object.assign(new Error('no more loop devices'), { name: 'RuntimeError', code: 'internal' })
    expect((await post(`/v1/sandboxes/${sbx.id}/reset`)).status).toBe(500)
    expect(await json(await tp.call('GET', `/v1/sandboxes/${sbx.id}`))).toMatchObject({ state: 'stopped', reason: 'reset_failed' })
    expect(runtime.sandboxes.has(sbx.id)).toBe(false)
  })

  it('a paused sandbox can be snapshotted (it stays paused) and reset (it runs again)', async () => {
    await plane()
    const sbx = await sandbox()
    await post(`/v1/sandboxes/${sbx.id}/pause`)
    expect((await post(`/v1/sandboxes/${sbx.id}/snapshots`)).status).toBe(201)
    expect((await json(await tp.call('GET', `/v1/sandboxes/${sbx.id}`))).state).toBe('paused')
    expect(await json(await post(`/v1/sandboxes/${sbx.id}/reset`))).toMatchObject({ state: 'running', reason: 'reset' })
  })
})

describe('snapshotOnFailure', () => {
  const failing = () => plane({}, (req) => (req.cmd[0] === 'false' ? { exitCode: 1, stderr: 'boom' } : { stdout: 'ok\n' }))

  it('a failing command snapshots before returning; the result and the exec event link it; a passing one does not', async () => {
    await failing()
    const sbx = await sandbox()
    const ok = await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['true'], snapshotOnFailure: true }))
    expect(ok.snapshotId).toBeUndefined()
    const bad = await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['false'], snapshotOnFailure: true }))
    expect(bad).toMatchObject({ exitCode: 1, stderr: 'boom' })
    expect(runtime.snapshotRefs.has(bad.snapshotId)).toBe(true)
    expect((await json(await tp.call('GET', `/v1/snapshots/${bad.snapshotId}`))).labels).toMatchObject({ reason: 'exec_failure', cmd: 'false', exitCode: '1' })
    const execs = (await json(await tp.call('GET', `/v1/sandboxes/${sbx.id}/events`))).items.filter((e: any) => e.kind === 'exec')
    expect(execs.at(-1).data.snapshotId).toBe(bad.snapshotId)
    expect((await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['false'] }))).snapshotId).toBeUndefined()
  })

  it('a background command that fails snapshots too; its result (wait) links the snapshot', async () => {
    await failing()
    const sbx = await sandbox()
    const bg = await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['false'], background: true, snapshotOnFailure: true }))
    const done = await json(await post(`/v1/sandboxes/${sbx.id}/commands/${bg.pid}/wait`))
    expect(done.exitCode).toBe(1)
    expect(runtime.snapshotRefs.has(done.snapshotId)).toBe(true)
  })

  it('a streamed exec links the snapshot in its result line', async () => {
    await failing()
    const sbx = await sandbox()
    const r = await tp.call('POST', `/v1/sandboxes/${sbx.id}/exec`, { body: { cmd: ['false'], snapshotOnFailure: true }, headers: { accept: 'application/x-ndjson' } })
    const last = JSON.parse((await r.text()).trim().split('\n').at(-1)!)
    expect(last.exitCode).toBe(1)
    expect(runtime.snapshotRefs.has(last.snapshotId)).toBe(true)
  })

  it('a capture that fails is reported beside the result, which is still returned', async () => {
    await failing()
    const sbx = await sandbox()
    const create = runtime.snapshots.create
    runtime.snapshots.create = async () => {
      throw Object.assign(new Error('pool is full'), { name: 'RuntimeError', code: 'internal' })
    }
    const r = await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['false'], snapshotOnFailure: true }))
    runtime.snapshots.create = create
    expect(r).toMatchObject({ exitCode: 1, stderr: 'boom', snapshotError: 'internal: pool is full' })
    expect(r.snapshotId).toBeUndefined()
    expect((await json(await tp.call('GET', '/v1/snapshots'))).items).toEqual([])
  })

  it('armed by the feedback loop, the next failing exec snapshots once', async () => {
    await failing()
    const sbx = await sandbox()
    tp.svc.sandboxes.snapshots.arm(sbx.id, 'suite::flaky')
    expect((await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['true'] }))).snapshotId).toBeUndefined()
    const first = await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['false'] }))
    expect((await json(await tp.call('GET', `/v1/snapshots/${first.snapshotId}`))).labels).toMatchObject({ reason: 'armed_failure', armedFor: 'suite::flaky' })
    expect((await json(await post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['false'] }))).snapshotId).toBeUndefined()
  })
})

describe('retention', () => {
  it('TTL: the reaper deletes expired snapshots as system:reaper, audited', async () => {
    await plane()
    const sbx = await sandbox()
    const short = await snapshot(sbx.id, { ttlMs: 1_000 })
    const kept = await snapshot(sbx.id)
    tp.clock.advance(2_000)
    await tp.svc.sandboxes.reapExpired()
    expect([...runtime.snapshotRefs.keys()]).toEqual([kept.id])
    expect((await audit()).find((a) => a.action === 'deleteSnapshot')).toMatchObject({ actor: 'system:reaper', target: short.id, outcome: 'ok' })
  })

  it('count: past maxPerSandbox the oldest unpinned snapshot goes', async () => {
    await plane({ snapshots: { maxPerSandbox: 2 } })
    const sbx = await sandbox()
    const pinned = await snapshot(sbx.id, { labels: { pinned: 'true' } })
    tp.clock.advance(1)
    const old = await snapshot(sbx.id)
    tp.clock.advance(1)
    const mid = await snapshot(sbx.id)
    tp.clock.advance(1)
    const last = await snapshot(sbx.id)
    expect(new Set(runtime.snapshotRefs.keys())).toEqual(new Set([pinned.id, mid.id, last.id]))
    expect(runtime.snapshotRefs.has(old.id)).toBe(false)
  })
})

describe('crash mid-snapshot', () => {
  const interrupted = async (withCapture: boolean) => {
    await plane()
    const sbx = await sandbox()
    const row = {
      id: 'snap_interrupted000001',
      project: 'default',
      sandbox_id: sbx.id,
      parent: null,
      template: 'default',
      template_ref: null,
      state: 'creating' as const,
      size_bytes: 0,
      exclusive_bytes: 0,
      labels: '{}',
      created_by: 'x',
      created_at: '2026-01-01T00:00:00.000Z',
      expires_at: null,
      fork_point: 0,
    }
    await tp.svc.store.db.insertInto('snapshots').values(row).execute()
    if (withCapture) runtime.snapshotRefs.set(row.id, { id: row.id, layer: '/nonexistent', bytes: 7, exclusiveBytes: 3 })
    runtime.snapshotRefs.set('snap_orphan0000000001', { id: 'snap_orphan0000000001', layer: '/nonexistent', bytes: 1, exclusiveBytes: 1 })
    await tp.svc.sandboxes.reconcile()
    return row.id
  }

  it('a capture the runtime completed becomes a ready snapshot; a runtime capture with no row is deleted', async () => {
    const id = await interrupted(true)
    expect(await json(await tp.call('GET', `/v1/snapshots/${id}`))).toMatchObject({ id, sizeBytes: 7, exclusiveBytes: 3 })
    expect([...runtime.snapshotRefs.keys()]).toEqual([id])
  })

  it('a capture the runtime lacks leaves no row', async () => {
    const id = await interrupted(false)
    expect((await tp.call('GET', `/v1/snapshots/${id}`)).status).toBe(404)
    expect(await tp.svc.store.db.selectFrom('snapshots').selectAll().execute()).toEqual([])
    expect(runtime.snapshotRefs.size).toBe(0)
  })
})

describe('another project', () => {
  it("cannot see, delete, start from, reset to or snapshot another project's snapshots and sandboxes", async () => {
    await plane()
    const sbx = await sandbox()
    const snap = await snapshot(sbx.id)
    const other = (await json(await post('/v1/tokens', { project: 'other', scopes: ['sandboxes:read', 'sandboxes:write'], name: 'attacker' }))).token as string
    expect((await tp.call('GET', `/v1/snapshots/${snap.id}`, { token: other })).status).toBe(404)
    expect((await json(await tp.call('GET', '/v1/snapshots', { token: other }))).items).toEqual([])
    expect((await tp.call('DELETE', `/v1/snapshots/${snap.id}`, { token: other })).status).toBe(204) // idempotent, and changes nothing
    expect(runtime.snapshotRefs.has(snap.id)).toBe(true)
    expect((await post('/v1/sandboxes', { fromSnapshot: snap.id }, other)).status).toBe(404)
    expect((await post(`/v1/sandboxes/${sbx.id}/fork`, { count: 1 }, other)).status).toBe(404)
    expect((await post(`/v1/sandboxes/${sbx.id}/snapshots`, {}, other)).status).toBe(404)
    const mine = await json(await post('/v1/sandboxes', {}, other))
    expect((await post(`/v1/sandboxes/${mine.id}/reset`, { to: snap.id }, other)).status).toBe(404)
    expect(runtime.snapshotRefs.size).toBe(1)
  })
})
