/**
 * Snapshots, fork and reset through the HTTP API (SDK) on the real local runtime (btrfs snapshots).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Sandbox, Snapshot } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-snap-${process.pid}`
let home: string
let cp: ControlPlane
let url: string

describe.skipIf(skipReason)('snapshots, fork, reset (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  const conn = () => ({ baseUrl: url, token: cp.adminToken! })
  /** The local runtime captures: a build without it is a regression, not a reason to skip. */
  const needSnapshots = (_ctx: TestContext) => {
    expect(cp.svc.runtime.snapshots, 'LocalRuntime.snapshots').toBeDefined()
  }

  it('snapshot, fork into 3 that each see the changes, reset one to its start, delete everything leaving nothing', async (ctx) => {
    needSnapshots(ctx)
    const sbx = await Sandbox.create(conn())
    await sbx.files.write('/workspace/state.txt', 'before fork\n')
    const snap = await sbx.createSnapshot({ labels: { step: 'one' } })
    expect(snap).toMatchObject({ sandboxId: sbx.sandboxId, labels: { step: 'one' } })
    expect(snap.sizeBytes).toBeGreaterThan(0)
    await sbx.files.write('/workspace/state.txt', 'after snapshot\n')

    const forks = await sbx.fork({ count: 3 })
    expect(forks).toHaveLength(3)
    for (const f of forks) expect(await f.files.read('/workspace/state.txt')).toBe('after snapshot\n')
    await forks[0]!.files.write('/workspace/state.txt', 'fork 0 only\n')
    expect(await forks[1]!.files.read('/workspace/state.txt')).toBe('after snapshot\n')

    await forks[0]!.reset()
    expect(await forks[0]!.files.read('/workspace/state.txt')).toBe('after snapshot\n')
    await sbx.reset({ to: snap.id })
    expect(await sbx.files.read('/workspace/state.txt')).toBe('before fork\n')
    await sbx.reset()
    expect(await sbx.files.exists('/workspace/state.txt')).toBe(false)

    const child = await Sandbox.create({ ...conn(), fromSnapshot: snap.id })
    expect(await child.files.read('/workspace/state.txt')).toBe('before fork\n')
    await expect(Snapshot.delete(snap.id, conn())).rejects.toMatchObject({ code: 'conflict' })
    const ids = [sbx, child, ...forks].map((s) => s.sandboxId)
    for (const s of [sbx, child, ...forks]) await s.kill()
    for (const s of (await Snapshot.list(conn())).items) await Snapshot.delete(s.id, conn())
    expect((await Snapshot.list(conn())).items).toEqual([])
    expect(await cp.svc.runtime.snapshots!.list()).toEqual([])
    expect(leftovers(cgroupName, ids)).toEqual([])
  })

  it('reset to its template works on any runtime: same id, files back to the start, processes restarted, nothing left of the old instance', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.files.write('/workspace/scratch.txt', 'dirty\n')
    const bg = await sbx.commands.run('sleep 300', { background: true })
    const initBefore = JSON.parse((await cp.svc.sandboxes.row({ project: 'default' }, sbx.sandboxId)).runtime_ref!).pid as number
    await sbx.reset()
    expect(sbx.info).toMatchObject({ id: sbx.sandboxId, state: 'running', reason: 'reset' })
    expect(await sbx.files.exists('/workspace/scratch.txt')).toBe(false)
    const initAfter = JSON.parse((await cp.svc.sandboxes.row({ project: 'default' }, sbx.sandboxId)).runtime_ref!).pid as number
    expect(initAfter).not.toBe(initBefore)
    expect(() => process.kill(initBefore, 0)).toThrow()
    expect((await sbx.commands.run('pgrep -c sleep || true')).stdout.trim()).toBe('0')
    await expect(bg.wait()).rejects.toBeDefined()
    expect((await sbx.commands.run('echo alive')).stdout).toBe('alive\n')
    await sbx.kill()
    expect(leftovers(cgroupName, [sbx.sandboxId])).toEqual([])
  })

  it('snapshotOnFailure keeps the state of a failing command and links it', async (ctx) => {
    needSnapshots(ctx)
    const sbx = await Sandbox.create(conn())
    const r = await cp.svc.commands.run({ project: 'default', tokenId: 'tok_it', name: 'it', scopes: ['sandboxes:write'] }, sbx.sandboxId, {
      cmd: 'echo broken > /workspace/out.txt; exit 3',
      timeoutMs: 10_000,
      snapshotOnFailure: true,
    })
    expect(r.exitCode).toBe(3)
    expect(r.snapshotId).toMatch(/^snap_/)
    const from = await Sandbox.create({ ...conn(), fromSnapshot: r.snapshotId! })
    expect(await from.files.read('/workspace/out.txt')).toBe('broken\n')
    await from.kill()
    await sbx.kill()
    await Snapshot.delete(r.snapshotId!, conn())
    expect(leftovers(cgroupName, [sbx.sandboxId, from.sandboxId])).toEqual([])
  })
})
