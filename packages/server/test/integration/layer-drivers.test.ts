/**
 * One suite every layer driver (runtime.disk.driver: btrfs, reflink, copy) passes on this host, through a
 * real LocalRuntime: a sandbox's layer, a snapshot of it, a fork from the snapshot, real usage, the
 * diskMb contract (enforced by btrfs qgroups; refused, never ignored, where the driver cannot enforce
 * it), and nothing left once everything is deleted. reflink runs on the data dir's filesystem when it
 * clones files, else on a loop XFS image (reflink=1) the driver makes.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { defaultHelperPath, LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import type { LayerDriverKind } from '../../src/runtime/local/layer-driver.js'
import type { RuntimeRef, SandboxSpec } from '../../src/runtime/runtime.js'
import { run } from '../../src/runtime/runtime.suite.js'

const skip =
  process.getuid?.() !== 0
    ? 'the local runtime needs root (namespaces, overlay mounts, cgroups, loop images)'
    : !existsSync(defaultHelperPath)
      ? 'tidepool-helper is not built (npm run build)'
      : undefined
const env = { PATH: '/usr/bin:/bin' }
const mounts = () =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')

function layerDriverSuite(driver: LayerDriverKind): void {
  describe.skipIf(Boolean(skip))(`layer driver ${driver}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), `tp-layers-${driver}-`))
    const rt = new LocalRuntime({ dataDir, cgroupName: `tp-layers-${driver}-${process.pid}`, disk: { driver, poolMb: 1024, defaultMb: 256, maxMb: 512 } })
    const pool = join(dataDir, 'sandboxes')
    const live = new Map<string, RuntimeRef>()
    const snaps = new Set<string>()
    let seq = 0
    const start = async (over: Partial<SandboxSpec> = {}) => {
      const id = `sbx_l${driver}${process.pid}${seq++}`
      const ref = await rt.start({ id, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [], ...over })
      live.set(id, ref)
      return ref
    }
    const destroy = async (ref: RuntimeRef) => {
      await rt.destroy(ref.id, ref)
      live.delete(ref.id)
    }
    const sh = async (ref: RuntimeRef, script: string) => {
      const r = await run(rt, ref, ['sh', '-c', script], { env, user: 'root' })
      return { out: r.stdout, err: r.stderr, code: r.exit.exitCode }
    }

    afterAll(async () => {
      for (const ref of live.values()) await rt.destroy(ref.id, ref).catch(() => undefined)
      for (const id of snaps) await rt.snapshots.delete(id).catch(() => undefined)
      await rt.removeCgroupParents().catch(() => undefined)
      rt.close()
      for (const mp of mounts().filter((m) => m.startsWith(dataDir))) execFileSync('umount', ['-l', mp])
      rmSync(dataDir, { recursive: true, force: true })
    })

    it('is the driver asked for, and says whether it enforces diskMb', async () => {
      const ref = await start()
      expect(rt.diskDriver).toBe(driver)
      expect(rt.enforcesDiskMb).toBe(driver === 'btrfs')
      await destroy(ref)
    })

    it('snapshots a layer, forks from it (same files, independent writes), and reports real usage', async () => {
      const parent = await start()
      expect((await sh(parent, 'mkdir -p /data && for i in 1 2 3 4; do head -c 1048576 /dev/urandom > /data/f$i; done; echo v1 > /data/v; sync')).code).toBe(0)
      const stats = await rt.stats(parent)
      expect(stats.diskBytes).toBeGreaterThanOrEqual(4 * 1_048_576) // allocated bytes, not apparent: urandom does not compress away
      if (driver === 'btrfs') expect(stats.diskLimitBytes).toBe(256 * 1_048_576)
      else expect(stats.diskLimitBytes).toBeUndefined()
      const snap = await rt.snapshots.create(parent, `snp_l${driver}${process.pid}`)
      snaps.add(snap.id)
      expect(snap.bytes).toBeGreaterThanOrEqual(4 * 1_048_576)
      if (driver === 'reflink') expect(snap.exclusiveBytes).toBeLessThan(1_048_576) // every extent shared with the parent
      if (driver === 'copy') expect(snap.exclusiveBytes).toBe(snap.bytes)
      expect(readFileSync(join(snap.layer, 'root', 'data', 'v'), 'utf8')).toBe('v1\n')
      expect((await sh(parent, 'echo v2 > /data/v')).code).toBe(0)
      expect(readFileSync(join(snap.layer, 'root', 'data', 'v'), 'utf8')).toBe('v1\n') // the parent's later writes are not in it

      const fork = await start({ fromSnapshot: snap.id })
      expect((await sh(fork, 'cat /data/v; cmp /data/f1 /data/f1 && ls /data | wc -l')).out).toBe('v1\n5\n')
      expect((await sh(fork, 'echo fork > /data/v; echo new > /data/only-fork')).code).toBe(0)
      expect((await sh(parent, 'cat /data/v; test -e /data/only-fork || echo absent')).out).toBe('v2\nabsent\n')
      expect(readFileSync(join(snap.layer, 'root', 'data', 'v'), 'utf8')).toBe('v1\n')
      expect(readdirSync(join(pool, fork.id))).not.toContain('execs') // the fork has nothing of the parent's runtime files
      await destroy(fork)
      await destroy(parent)
      expect(existsSync(join(pool, fork.id))).toBe(false)
      await rt.snapshots.delete(snap.id)
      snaps.delete(snap.id)
      expect(await rt.snapshots.list()).toEqual([])
    })

    it(driver === 'btrfs' ? 'enforces diskMb: a write past it fails inside, the sandbox lives on' : 'refuses a diskMb it cannot enforce (unsupported), at create and at resize', async () => {
      if (driver !== 'btrfs') {
        await expect(start({ resources: { cpu: 1, memoryMb: 128, pids: 64, diskMb: 64 } })).rejects.toMatchObject({
          code: 'invalid_request',
          message: expect.stringMatching(/^unsupported: resources\.diskMb/),
        })
        expect(readdirSync(pool).filter((n) => !n.startsWith('.'))).toEqual([]) // nothing made
        const ref = await start()
        await expect(rt.resize(ref, { cpu: 1, memoryMb: 128, pids: 64, diskMb: 64 })).rejects.toMatchObject({ message: expect.stringMatching(/^unsupported/) })
        await destroy(ref)
        return
      }
      const ref = await start({ resources: { cpu: 1, memoryMb: 128, pids: 64, diskMb: 32 } })
      const r = await sh(ref, 'head -c 67108864 /dev/zero > /big; echo rc=$?; rm -f /big; echo ok > /after; cat /after')
      expect(r.out).toMatch(/rc=[1-9][0-9]*\nok\n$/)
      expect(r.err).toMatch(/quota|No space/i)
      await destroy(ref)
    })

    it('leaves no layer, snapshot, pool mount or image once everything is deleted and the runtime released', async () => {
      expect(live.size).toBe(0)
      await rt.releaseIdle()
      expect(mounts().filter((m) => m.startsWith(dataDir))).toEqual([])
      expect(readdirSync(dataDir).filter((n) => n.startsWith('layers-') || n.endsWith('.img') || n === 'sandboxes')).toEqual([])
    })
  })
}

for (const driver of ['btrfs', 'reflink', 'copy'] as const) layerDriverSuite(driver)
