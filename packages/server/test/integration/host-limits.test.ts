/** What one sandbox, one project or a second tidepool may take from the host: instances, pids, disk (real namespaces and cgroups). */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { pidsCeiling, readHostTasks } from '../../src/runtime/local/host-limits.js'
import { LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import type { RuntimeRef, SandboxSpec } from '../../src/runtime/runtime.js'
import { run } from '../../src/runtime/runtime.suite.js'
import { leftovers } from './support/host.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root (namespaces, overlay mounts, cgroups); run the tests as root' : undefined
const cgroupName = `tidepool-lim-${process.pid}`
const homes: string[] = []
const runtimes: LocalRuntime[] = []
const env = { PATH: '/usr/bin:/bin' }
let seq = 0

function newRuntime(dataDir = mkdtempSync(join(tmpdir(), 'tidepool-lim-'))): LocalRuntime {
  homes.push(dataDir)
  const rt = new LocalRuntime({ dataDir, cgroupName })
  runtimes.push(rt)
  return rt
}

const spec = (resources: Partial<SandboxSpec['resources']> = {}): SandboxSpec => ({
  id: `sbx_lim${process.pid}x${seq++}`,
  template: { name: 'base', rootfs: 'host' },
  resources: { cpu: 1, memoryMb: 128, pids: 64, ...resources },
  denyRead: [],
})

afterAll(async () => {
  for (const rt of runtimes) {
    for (const id of await rt.list()) await rt.destroy(id)
    await rt.removeCgroupParents()
  }
  for (const h of homes) rmSync(h, { recursive: true, force: true })
})

describe.skipIf(Boolean(skip))('two tidepools on one host', () => {
  it("a second runtime (another home, the same cgroup name) lists, reconciles and tidies up without touching the first one's sandboxes", async () => {
    const first = newRuntime()
    const second = newRuntime()
    const ref: RuntimeRef = await first.start(spec())
    // What the second one's reconcile does at start: destroy every leftover its store does not know.
    const seen = await second.list()
    expect(seen).not.toContain(ref.id)
    for (const id of seen) await second.destroy(id)
    // A destroy by id (a stale record naming the first one's sandbox) finds nothing of its own to remove.
    await second.destroy(ref.id)
    await second.removeCgroupParents()
    expect(await first.inspect(ref)).toBe('running')
    expect((await run(first, ref, ['echo', 'alive'], { env })).stdout).toBe('alive\n')
    expect(second.instance).not.toBe(first.instance)
    // Each instance's cgroups carry its id: <name>/<instance>/<sandbox>.
    expect(first.cgroupParent).toBe(`${cgroupName}/${first.instance}`)
    expect(readdirSync(`/sys/fs/cgroup/pids/${first.cgroupParent}`)).toContain(ref.id)
    await first.destroy(ref.id, ref)
    expect(leftovers(cgroupName, [ref.id])).toEqual([])
  })
})

describe.skipIf(Boolean(skip))('pids against what the host has', () => {
  const tasks = readHostTasks()
  const bound = pidsCeiling(tasks)

  it("refuses one sandbox's pids over half the kernel's task limit, at create and at resize, naming the bound", async () => {
    const rt = newRuntime()
    expect(rt.pidsBound).toBe(bound)
    const s = spec({ pids: Math.min(tasks.pidMax, tasks.threadsMax) })
    await expect(rt.start(s)).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining(`resources.pids must be at most ${bound} on this host`) })
    expect(leftovers(cgroupName, [s.id])).toEqual([])
    const ref = await rt.start(spec())
    await expect(rt.resize(ref, { cpu: 1, memoryMb: 128, pids: bound + 1 })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining(`at most ${bound}`) })
    expect(readFileSync(`/sys/fs/cgroup/pids/${rt.cgroupParent}/${ref.id}/pids.max`, 'utf8').trim()).toBe('64')
    // Every sandbox of every instance together: the kernel enforces the same ceiling on the shared parent.
    expect(readFileSync(`/sys/fs/cgroup/pids/${cgroupName}/pids.max`, 'utf8').trim()).toBe(String(bound))
    await rt.destroy(ref.id, ref)
  })
})

describe.skipIf(Boolean(skip))('disk limits', () => {
  const MiB = 1_048_576
  const freeBytes = (dir: string) => {
    const s = statfsSync(dir)
    return Number(s.bavail) * Number(s.bsize)
  }

  it('a write past resources.diskMb fails inside with EDQUOT, the host keeps its space, and destroy leaves no subvolume, qgroup, mount, loop device or file', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tidepool-lim-'))
    const rt = newRuntime(home)
    const ref = await rt.start(spec({ diskMb: 64 }))
    const pool = join(home, 'sandboxes')
    const image = join(home, `sandboxes-${rt.instance}.img`)
    const before = freeBytes(home)
    const r = await run(rt, ref, ['sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=200 2>&1; echo rc=$?; sync'], { env })
    expect(r.stdout).toMatch(/Disk quota exceeded/)
    expect(r.stdout).toMatch(/rc=1\n/)
    const stats = await rt.stats(ref)
    expect(stats.diskLimitBytes).toBe(64 * MiB)
    expect(stats.diskBytes).toBeGreaterThan(32 * MiB)
    expect(stats.diskBytes).toBeLessThanOrEqual(64 * MiB)
    // dd asked for 200 MiB: the host's filesystem gave the pool image at most the limit (and some metadata).
    expect(before - freeBytes(home)).toBeLessThan(100 * MiB)
    // Live resize: below what it holds is refused; above, the sandbox can write again.
    await expect(rt.resize(ref, { cpu: 1, memoryMb: 128, pids: 64, diskMb: 16 })).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/diskMb 16 is below what sandbox .* holds now/),
    })
    await rt.resize(ref, { cpu: 1, memoryMb: 128, pids: 64, diskMb: 128 })
    expect((await run(rt, ref, ['sh', '-c', 'dd if=/dev/zero of=/more bs=1M count=16 2>/dev/null; echo rc=$?'], { env })).stdout).toBe('rc=0\n')
    expect((await rt.stats(ref)).diskLimitBytes).toBe(128 * MiB)
    // Over the configured maximum: a clear error, nothing made.
    const tooBig = spec({ diskMb: 1_000_000 })
    await expect(rt.start(tooBig)).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('resources.diskMb must be at most 10240') })
    const subvolume = readFileSync(join(pool, ref.id, 'disk'), 'utf8').split(' ')[0]
    const fsid = readdirSync('/sys/fs/btrfs').find((d) => existsSync(`/sys/fs/btrfs/${d}/qgroups/0_${subvolume}`))
    expect(fsid).toBeDefined()
    await rt.destroy(ref.id, ref)
    expect(existsSync(join(pool, ref.id))).toBe(false)
    // The kernel frees the subvolume's extents once its cleaner has run (BTRFS_IOC_SYNC wakes it). On
    // Linux 6.18 with simple quotas its qgroup can stay listed holding one metadata node (16 KiB) until
    // the pool goes; what must not stay is the data the sandbox wrote.
    const qgroup = `/sys/fs/btrfs/${fsid}/qgroups/0_${subvolume}/referenced`
    for (let i = 0; i < 100 && existsSync(qgroup) && Number(readFileSync(qgroup, 'utf8')) > 64 * 1024; i++) {
      spawnSync('btrfs', ['filesystem', 'sync', pool])
      await new Promise((res) => setTimeout(res, 50))
    }
    if (existsSync(qgroup)) expect(Number(readFileSync(qgroup, 'utf8'))).toBeLessThanOrEqual(64 * 1024)
    await rt.removeCgroupParents()
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(pool)
    expect(spawnSync('losetup', ['-j', image], { encoding: 'utf8' }).stdout).toBe('')
    expect(existsSync(image)).toBe(false)
    expect(leftovers(cgroupName, [ref.id])).toEqual([])
  })

  it("two instances keep two pools, and neither unmounts the other's", async () => {
    const a = newRuntime()
    const b = newRuntime()
    const ref = await a.start(spec({ diskMb: 32 }))
    await b.start(spec({ diskMb: 32 })).then((r) => b.destroy(r.id, r))
    await b.removeCgroupParents()
    expect((await run(a, ref, ['sh', '-c', 'echo kept > /f && cat /f'], { env })).stdout).toBe('kept\n')
    await a.destroy(ref.id, ref)
  })
})
