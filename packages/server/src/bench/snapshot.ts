/**
 * @module bench/snapshot — snapshot and fork (start from a snapshot, to ready for exec) on the local
 * runtime's btrfs pool, with a writable layer of 10 MB / 100 files and of 1 GB / 10,000 files: the
 * figures must not depend on the layer's size (DESIGN §6; issue #10 targets). Peers in the same run,
 * interleaved: the same capture through btrfs-progs (`btrfs subvolume snapshot -r`, one process spawn),
 * and a start of an empty sandbox.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { childEnv } from '../core/child-env.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import type { ExecHandle, RuntimeRef, SandboxSpec } from '../runtime/runtime.js'
import { figure, machine, metric, type BenchResult } from './result.js'

const samples = 20
const warmUp = 3
const sizes = [
  { name: '10 MB / 100 files', files: 100 },
  { name: '1 GB / 10,000 files', files: 10_000 },
] as const
/** Each file: 100 KiB (one random block, written again per file: btrfs stores every copy). */
const fileBytes = 102_400

export async function run(): Promise<BenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-bench-snap-'))
  const rt = new LocalRuntime({ dataDir, cgroupName: `tidepool-bench-snap-${process.pid}`, disk: { poolMb: 8192, maxMb: 4096 } })
  const spec = (id: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({
    id,
    template: { name: 'base', rootfs: 'host' },
    resources: { cpu: 1, memoryMb: 256, pids: 64, diskMb: 4096 },
    denyRead: [],
    ...over,
  })
  const ms = async (fn: () => Promise<unknown>) => {
    const t = performance.now()
    await fn()
    return performance.now() - t
  }
  const refs: RuntimeRef[] = []
  let seq = 0
  try {
    const metrics = []
    const p50 = (xs: number[]) => metric('', '', xs).p50
    // Both layers first, then the samples of the two sizes alternate: a load spike of this shared
    // machine hits both alike, so their ratio measures the size and not the moment.
    const parents: RuntimeRef[] = []
    for (const size of sizes) {
      const parent = await rt.start(spec(`sbx_benchsnap${seq++}`))
      refs.push(parent)
      parents.push(parent)
      const fill = `import os\nb = os.urandom(${fileBytes})\nos.makedirs('/home/user/data', exist_ok=True)\nfor i in range(${size.files}):\n    with open('/home/user/data/f%05d' % i, 'wb') as f:\n        f.write(b)\n`
      const r = await finish(rt.exec(parent, { cmd: ['python3', '-c', fill], env: { PATH: '/usr/bin:/bin' }, user: 'user', timeoutMs: 600_000 }))
      if (r.exit.exitCode !== 0) throw new Error(`filling the layer failed: ${r.stderr}`)
    }
    // Flushed once here, so every sample measures the capture and not the first writeback of the data.
    execFileSync('sync', ['-f', join(dataDir, 'sandboxes')], { env: childEnv() })
    const results = sizes.map(() => ({ snap: [] as number[], fork: [] as number[], progs: [] as number[], empty: [] as number[] }))
    for (let i = 0; i < warmUp + samples; i++) {
      for (const [k, parent] of parents.entries()) {
        const id = `snp_bench${seq++}`
        const subvol = join(dataDir, 'sandboxes', parent.id)
        const s = await ms(() => rt.snapshots.create(parent, id))
        const peer = join(dataDir, 'sandboxes', '.snapshots', `${id}-progs`)
        const p = await ms(async () => execFileSync('btrfs', ['subvolume', 'snapshot', '-r', subvol, peer], { env: childEnv(), stdio: 'ignore' }))
        let child: RuntimeRef | undefined
        const f = await ms(async () => (child = await rt.start(spec(`sbx_benchfork${seq++}`, { fromSnapshot: id }))))
        let plain: RuntimeRef | undefined
        const e = await ms(async () => (plain = await rt.start(spec(`sbx_benchempty${seq++}`))))
        await rt.destroy(child!.id, child)
        await rt.destroy(plain!.id, plain)
        await rt.snapshots.delete(id)
        execFileSync('btrfs', ['subvolume', 'delete', peer], { env: childEnv(), stdio: 'ignore' })
        if (i < warmUp) continue
        const r = results[k]!
        r.snap.push(s)
        r.progs.push(p)
        r.fork.push(f)
        r.empty.push(e)
      }
    }
    for (const [k, size] of sizes.entries()) {
      const r = results[k]!
      metrics.push(
        metric(`snapshot, ${size.name}`, 'ms', r.snap, { target: 'p50 <= 20 ms', peer: { name: 'btrfs subvolume snapshot -r (btrfs-progs)', p50: p50(r.progs) } }),
        metric(`fork to ready, ${size.name}`, 'ms', r.fork, { target: 'p50 <= 40 ms', peer: { name: 'start of an empty sandbox', p50: p50(r.empty) } }),
      )
    }
    const [small, big] = results
    metrics.push(
      figure('snapshot p50, 1 GB / 10 MB', 'ratio', p50(big!.snap) / p50(small!.snap), {
        target: '<= 1.3',
        peer: { name: 'btrfs-progs, same ratio', p50: Math.round((p50(big!.progs) / p50(small!.progs)) * 1000) / 1000 },
      }),
      figure('fork to ready p50, 1 GB / 10 MB', 'ratio', p50(big!.fork) / p50(small!.fork), { target: '<= 1.3' }),
    )
    return { name: 'snapshot', at: new Date().toISOString(), machine: machine(), metrics }
  } finally {
    for (const r of refs) await rt.destroy(r.id, r).catch(() => {})
    for (const id of await rt.snapshots.list()) await rt.snapshots.delete(id)
    rt.close()
    await rt.removeCgroupParents()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Waits for a command, keeping its stderr (for the error message). */
async function finish(h: ExecHandle): Promise<{ exit: { exitCode: number }; stderr: string }> {
  let stderr = ''
  h.stdout.resume()
  h.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
  h.stdin.end()
  return { exit: await h.wait(), stderr }
}
