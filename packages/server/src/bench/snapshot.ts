/**
 * @module bench/snapshot — snapshot, fork (start from a snapshot, to ready for exec) and reset (destroy
 * and start again from the snapshot, same id) on each layer driver of the local runtime this host has
 * (btrfs, reflink, copy; runtime/local/layer-driver.ts), with a writable layer of 10 MB / 100 files and of
 * 1 GB / 10,000 files: on btrfs the figures must not depend on the layer's size (DESIGN §6; issue #10
 * targets); reflink and copy are measured beside it so users see what each driver buys. Peers in the
 * same run, interleaved: on btrfs the same capture through btrfs-progs (`btrfs subvolume snapshot -r`,
 * one process spawn) and a start of an empty sandbox; on reflink and copy, the btrfs figure.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { childEnv } from '../core/child-env.js'
import type { LayerDriverKind } from '../runtime/local/layer-driver.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import type { ExecHandle, RuntimeRef, SandboxSpec } from '../runtime/runtime.js'
import { figure, machine, metric, type BenchResult, type Metric } from './result.js'

const sizes = [
  { name: '10 MB / 100 files', files: 100 },
  { name: '1 GB / 10,000 files', files: 10_000 },
] as const
/** Each file: 100 KiB (one random block, written again per file: btrfs stores every copy). */
const fileBytes = 102_400
/** Samples (after warm-up) per driver and size: the copy driver moves 1 GB per operation, so it gets few. */
const plan: Record<LayerDriverKind, { warmUp: number; samples: [number, number] }> = {
  btrfs: { warmUp: 3, samples: [20, 20] },
  reflink: { warmUp: 1, samples: [8, 6] },
  copy: { warmUp: 1, samples: [8, 3] },
}
const sbin = ['/usr/sbin', '/sbin', '/usr/bin', '/bin']
const has = (tool: string) => sbin.some((d) => existsSync(join(d, tool)))

interface DriverResult {
  driver: LayerDriverKind
  sizes: { snap: number[]; fork: number[]; reset: number[]; progs: number[]; empty: number[] }[]
}

export async function run(): Promise<BenchResult> {
  const drivers: LayerDriverKind[] = ['btrfs', ...(has('mkfs.xfs') ? (['reflink'] as const) : []), 'copy']
  const results: DriverResult[] = []
  for (const driver of drivers) results.push(await runDriver(driver))
  const p50 = (xs: number[]) => (xs.length ? metric('', '', xs).p50 : NaN)
  const btrfs = results.find((r) => r.driver === 'btrfs')
  const metrics: Metric[] = []
  for (const r of results) {
    const onBtrfs = r.driver === 'btrfs'
    const vsBtrfs = (k: number, f: 'snap' | 'fork' | 'reset') => (btrfs && !onBtrfs ? { peer: { name: 'btrfs driver, same run', p50: p50(btrfs.sizes[k]![f]) } } : {})
    for (const [k, size] of sizes.entries()) {
      const s = r.sizes[k]!
      metrics.push(
        metric(
          `${r.driver}: snapshot, ${size.name}`,
          'ms',
          s.snap,
          onBtrfs ? { target: 'p50 <= 20 ms', peer: { name: 'btrfs subvolume snapshot -r (btrfs-progs)', p50: p50(s.progs) } } : vsBtrfs(k, 'snap'),
        ),
        metric(`${r.driver}: fork to ready, ${size.name}`, 'ms', s.fork, onBtrfs ? { target: 'p50 <= 40 ms', peer: { name: 'start of an empty sandbox', p50: p50(s.empty) } } : vsBtrfs(k, 'fork')),
        metric(`${r.driver}: reset to the snapshot, ${size.name}`, 'ms', s.reset, onBtrfs ? { target: 'p50 <= 30 ms' } : vsBtrfs(k, 'reset')),
      )
    }
    const [small, big] = r.sizes
    const target = onBtrfs ? { target: '<= 1.3' } : {}
    metrics.push(
      figure(`${r.driver}: snapshot p50, 1 GB / 10 MB`, 'ratio', p50(big!.snap) / p50(small!.snap), {
        ...target,
        ...(onBtrfs ? { peer: { name: 'btrfs-progs, same ratio', p50: Math.round((p50(big!.progs) / p50(small!.progs)) * 1000) / 1000 } } : {}),
      }),
      figure(`${r.driver}: fork to ready p50, 1 GB / 10 MB`, 'ratio', p50(big!.fork) / p50(small!.fork), target),
    )
  }
  return { name: 'snapshot', at: new Date().toISOString(), machine: machine(), metrics }
}

async function runDriver(driver: LayerDriverKind): Promise<DriverResult> {
  const { warmUp, samples } = plan[driver]
  const dataDir = mkdtempSync(join(tmpdir(), `tidepool-bench-snap-${driver}-`))
  // reflink and copy enforce no diskMb: the sandboxes take the default (4096, not enforced there).
  const rt = new LocalRuntime({ dataDir, cgroupName: `tidepool-bench-snap-${process.pid}`, disk: { driver, poolMb: 8192, maxMb: 4096, defaultMb: 4096 } })
  const spec = (id: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({ id, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 256, pids: 64 }, denyRead: [], ...over })
  const ms = async (fn: () => Promise<unknown>) => {
    const t = performance.now()
    await fn()
    return performance.now() - t
  }
  const refs: RuntimeRef[] = []
  let seq = 0
  try {
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
    const out: DriverResult = { driver, sizes: sizes.map(() => ({ snap: [], fork: [], reset: [], progs: [], empty: [] })) }
    for (let i = 0; i < warmUp + Math.max(...samples); i++) {
      for (const [k, parent] of parents.entries()) {
        if (i >= warmUp + samples[k]!) continue
        const id = `snp_bench${seq++}`
        const s = await ms(() => rt.snapshots.create(parent, id))
        let p = NaN
        const peer = join(dataDir, 'sandboxes', '.snapshots', `${id}-progs`)
        if (driver === 'btrfs') p = await ms(async () => execFileSync('btrfs', ['subvolume', 'snapshot', '-r', join(dataDir, 'sandboxes', parent.id), peer], { env: childEnv(), stdio: 'ignore' }))
        const childId = `sbx_benchfork${seq++}`
        let child: RuntimeRef | undefined
        const f = await ms(async () => (child = await rt.start(spec(childId, { fromSnapshot: id }))))
        // What a reset does in the runtime: the instance destroyed, a new one of the same id from the snapshot.
        const r = await ms(async () => {
          await rt.destroy(childId, child)
          child = await rt.start(spec(childId, { fromSnapshot: id }))
        })
        let plain: RuntimeRef | undefined
        const e = driver === 'btrfs' ? await ms(async () => (plain = await rt.start(spec(`sbx_benchempty${seq++}`)))) : NaN
        await rt.destroy(childId, child)
        if (plain) await rt.destroy(plain.id, plain)
        await rt.snapshots.delete(id)
        if (driver === 'btrfs') execFileSync('btrfs', ['subvolume', 'delete', peer], { env: childEnv(), stdio: 'ignore' })
        if (i < warmUp) continue
        const o = out.sizes[k]!
        o.snap.push(s)
        o.fork.push(f)
        o.reset.push(r)
        if (driver === 'btrfs') {
          o.progs.push(p)
          o.empty.push(e)
        }
      }
    }
    return out
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
