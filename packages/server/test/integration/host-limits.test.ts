/** What one sandbox, one project or a second tidepool may take from the host: instances, pids, disk (real namespaces and cgroups). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
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
  it('a second runtime (another home, the same cgroup name) lists, reconciles and tidies up without touching the first one\'s sandboxes', async () => {
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

  it('refuses one sandbox\'s pids over half the kernel\'s task limit, at create and at resize, naming the bound', async () => {
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
