/**
 * Local-runtime specifics of snapshots (the behaviour every runtime shares is in runtime/snapshot.suite.ts):
 * they live beside the sandboxes in the disk pool without being taken for sandboxes, survive a restart
 * of the control plane, keep the pool mounted while they exist, and a capture a crash cut short is
 * swept rather than used.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { defaultHelperPath, LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import type { SandboxSpec } from '../../src/runtime/runtime.js'
import { run } from '../../src/runtime/runtime.suite.js'
import { childEnv } from '../../src/core/child-env.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root (namespaces, overlay mounts, cgroups, btrfs); run the tests as root' : undefined
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-snaps-'))
const cgroupName = `tidepool-snaps-${process.pid}`
const runtimes: LocalRuntime[] = []
const newRuntime = () => {
  const rt = new LocalRuntime({ dataDir, cgroupName })
  runtimes.push(rt)
  return rt
}
const spec = (id: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({ id, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [], ...over })
const pool = join(dataDir, 'sandboxes')
const poolMounted = () =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === pool)

afterAll(async () => {
  for (const rt of runtimes) rt.close()
  for (const id of (await runtimes.at(-1)?.snapshots.list()) ?? []) await runtimes.at(-1)?.snapshots.delete(id)
  await runtimes.at(-1)?.removeCgroupParents()
  rmSync(dataDir, { recursive: true, force: true })
})

describe.skipIf(Boolean(skip))('LocalRuntime snapshots on the host', () => {
  const env = { PATH: '/usr/bin:/bin' }

  it('are no sandboxes, outlive their sandbox and a restart, and keep the pool until the last is deleted', async () => {
    const rt = newRuntime()
    const parent = await rt.start(spec(`sbx_snaps${process.pid}a`))
    await run(rt, parent, ['sh', '-c', 'echo kept > /tmp/kept'], { env })
    const detached = rt.exec(parent, { cmd: ['true'], env, user: 'user', timeoutMs: 5000, detached: true, tag: 'parent' })
    detached.stdin.end()
    await detached.wait()
    expect(existsSync(join(pool, parent.id, 'execs'))).toBe(true) // its records, which a fork must not adopt
    const snap = await rt.snapshots.create(parent, 'snp_restart')
    expect(snap.layer).toBe(join(pool, '.snapshots', 'snp_restart', 'upper'))
    expect(readFileSync(join(snap.layer, 'root', 'tmp', 'kept'), 'utf8')).toBe('kept\n')
    // Read-only on the host too: the layer is never written again.
    expect(() => execFileSync('touch', [join(snap.layer, 'root', 'tmp', 'x')], { stdio: 'pipe', env: childEnv() })).toThrow(/Read-only file system/)
    await rt.destroy(parent.id, parent)
    expect(await rt.list()).toEqual([])
    await rt.releaseIdle()
    expect(poolMounted()).toBe(true) // a snapshot is in it

    const fresh = newRuntime()
    expect(await fresh.list()).toEqual([])
    expect(await fresh.snapshots.list()).toEqual(['snp_restart'])
    expect(await fresh.snapshots.get('snp_restart')).toEqual(snap)
    const fork = await fresh.start(spec(`sbx_snaps${process.pid}b`, { fromSnapshot: 'snp_restart' }))
    expect((await run(fresh, fork, ['cat', '/tmp/kept'], { env })).stdout).toBe('kept\n')
    // The fork inherits none of the parent's runtime files: its own init, no exec records of the parent.
    expect(readFileSync(join(pool, fork.id, 'init'), 'utf8')).toBe(`${fork.pid} ${fork.startTime}\n`)
    expect(existsSync(join(pool, fork.id, 'execs'))).toBe(false)
    await fresh.destroy(fork.id, fork)
    await fresh.snapshots.delete('snp_restart')
    await fresh.releaseIdle()
    expect(poolMounted()).toBe(false)
    expect(existsSync(pool)).toBe(false)
  })

  it('counts the bytes the captured layer holds, from the qgroup of the sandbox at the capture', async () => {
    const rt = newRuntime()
    const parent = await rt.start(spec(`sbx_snaps${process.pid}e`))
    try {
      // Written just before: not yet in a committed transaction, so only a count taken after the capture's commit sees it.
      await run(rt, parent, ['sh', '-c', 'head -c 3000000 /dev/urandom > /tmp/three-mb'], { env })
      const snap = await rt.snapshots.create(parent, 'snp_bytes')
      expect(snap.bytes).toBeGreaterThanOrEqual(3_000_000)
      expect(snap.bytes).toBeLessThan(8_000_000)
      expect(snap.exclusiveBytes).toBeLessThanOrEqual(snap.bytes)
      await rt.snapshots.delete('snp_bytes')
    } finally {
      await rt.destroy(parent.id, parent)
    }
  })

  it('a capture a crash cut short (no record) is never listed or used, and is swept', async () => {
    const rt = newRuntime()
    const parent = await rt.start(spec(`sbx_snaps${process.pid}c`))
    try {
      // What a control plane killed between the capture and its record leaves: the subvolume alone.
      execFileSync(defaultHelperPath, ['snapshot', '--source', join(pool, parent.id), '--dest', join(pool, '.snapshots', 'snp_cut')], { stdio: 'pipe', env: childEnv() })
      expect(existsSync(join(pool, '.snapshots', 'snp_cut'))).toBe(true)
      expect(await rt.snapshots.get('snp_cut')).toBeUndefined()
      await expect(rt.start(spec(`sbx_snaps${process.pid}d`, { fromSnapshot: 'snp_cut' }))).rejects.toMatchObject({ code: 'not_found' })
      expect(await rt.snapshots.list()).toEqual([])
      expect(existsSync(join(pool, '.snapshots', 'snp_cut'))).toBe(false)
      // And the id can be used again.
      expect((await rt.snapshots.create(parent, 'snp_cut')).id).toBe('snp_cut')
      await rt.snapshots.delete('snp_cut')
    } finally {
      await rt.destroy(parent.id, parent)
    }
  })
})
