/**
 * Faults of the disk pool, on the btrfs layer driver through a real LocalRuntime: a pool that fills up
 * fails the write inside the sandbox that hit it (ENOSPC) and nothing else: the layers in it stay whole,
 * a snapshot taken then is complete or not there at all, and deleting a sandbox gives the room back.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { defaultHelperPath, LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import type { RuntimeRef, SandboxSpec } from '../../src/runtime/runtime.js'
import { run } from '../../src/runtime/runtime.suite.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root' : !existsSync(defaultHelperPath) ? 'tidepool-helper is not built (npm run build)' : undefined
const env = { PATH: '/usr/bin:/bin' }

describe.skipIf(Boolean(skip))('a full disk pool (btrfs, 256 MiB)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-diskfull-'))
  const rt = new LocalRuntime({ dataDir, cgroupName: `tp-diskfull-${process.pid}`, disk: { driver: 'btrfs', poolMb: 256, maxMb: 256, defaultMb: 256 } })
  const live = new Map<string, RuntimeRef>()
  const start = async (id: string, over: Partial<SandboxSpec> = {}) => {
    const ref = await rt.start({ id, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [], ...over })
    live.set(id, ref)
    return ref
  }
  const sh = async (ref: RuntimeRef, script: string) => {
    const r = await run(rt, ref, ['sh', '-c', script], { env, user: 'root' })
    return { out: r.stdout, err: r.stderr, code: r.exit.exitCode }
  }

  afterAll(async () => {
    for (const ref of live.values()) await rt.destroy(ref.id, ref).catch(() => undefined)
    for (const id of await rt.snapshots.list().catch(() => [])) await rt.snapshots.delete(id).catch(() => undefined)
    await rt.removeCgroupParents().catch(() => undefined)
    rt.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('fails the write that finds no room (ENOSPC), keeps every layer whole, and recovers once a sandbox is deleted', async () => {
    const a = await start(`sbx_full${process.pid}a`)
    const b = await start(`sbx_full${process.pid}b`)
    // a: 120 MiB of data with a checksum; b then asks for more than the pool has left.
    expect((await sh(a, 'head -c 125829120 /dev/urandom > /a.bin && sync && sha256sum /a.bin > /a.sum && echo ok')).out).toBe('ok\n')
    const full = await sh(b, 'head -c 268435456 /dev/zero > /b.bin; echo rc=$?; sync')
    expect(full.out).toMatch(/^rc=[1-9]/)
    expect(full.err).toMatch(/No space left on device|Disk quota exceeded/)
    const stats = await rt.stats(b)
    expect(stats.diskPoolBytes).toBeGreaterThan(0)
    expect(stats.diskPoolFreeBytes).toBeLessThanOrEqual(stats.diskPoolBytes! * 0.02) // the pool says it is full (what a disk_full event of scope pool goes by)
    expect((await sh(a, 'sha256sum -c /a.sum')).out).toBe('/a.bin: OK\n') // the other layer is whole

    // A snapshot while the pool is full: complete, or refused with nothing left behind.
    const snapId = `snp_full${process.pid}`
    const snap = await rt.snapshots.create(a, snapId).then(
      (s) => s,
      (err: Error) => err,
    )
    const snapsDir = join(dataDir, 'sandboxes', '.snapshots')
    if (snap instanceof Error) {
      expect(snap.message).toMatch(/snapshot/)
      expect(existsSync(join(snapsDir, snapId))).toBe(false)
      expect(await rt.snapshots.list()).toEqual([])
    } else {
      expect(readFileSync(join(snap.layer, 'root', 'a.sum'), 'utf8')).toMatch(/a\.bin/)
      await rt.snapshots.delete(snapId)
    }

    // b's partial file goes; a goes: the pool gives the room back (the kernel frees extents in the background).
    expect((await sh(b, 'rm -f /b.bin; sync; echo ok')).out).toBe('ok\n')
    await rt.destroy(a.id, a)
    live.delete(a.id)
    // Waits until the kernel's cleaner has dropped the deleted subvolume (its extents freed).
    execFileSync('btrfs', ['subvolume', 'sync', join(dataDir, 'sandboxes')], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
    let again = { out: '', err: '', code: 1 }
    for (let i = 0; i < 50 && again.code !== 0; i++) {
      again = await sh(b, 'head -c 104857600 /dev/zero > /b.bin && sync && echo ok')
      if (again.code !== 0) await new Promise((r) => setTimeout(r, 200))
    }
    expect(again).toMatchObject({ out: 'ok\n', code: 0 })
    expect(readdirSync(join(dataDir, 'sandboxes')).filter((n) => !n.startsWith('.'))).toEqual([b.id])
  })
})
