/**
 * @module bench/network-setup — what a sandbox's link to the host (veth pair, addresses, routes by
 * rtnetlink in the helper; DESIGN §6, issue #11 target: ≤ 5 ms of create p50) adds to create: create
 * (to ready for exec) with network.egress and without, interleaved in the same run, each followed by
 * its destroy (also measured: destroy waits until the kernel has torn the pair down).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import type { SandboxSpec } from '../runtime/runtime.js'
import { figure, machine, metric, type BenchResult } from './result.js'

const samples = 150
const warmUp = 5

export async function run(): Promise<BenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-bench-net-'))
  // A range of its own, so a tidepool running on this host keeps its addresses.
  const rt = new LocalRuntime({ dataDir, cgroupName: `tidepool-bench-net-${process.pid}`, network: { range: '10.219.0.0/16' } })
  const spec = (id: string, egress: boolean): SandboxSpec => ({
    id,
    template: { name: 'base', rootfs: 'host' },
    resources: { cpu: 1, memoryMb: 128, pids: 64 },
    denyRead: [],
    ...(egress ? { network: { egress: true } } : {}),
  })
  const ms = async (fn: () => Promise<unknown>) => {
    const t = performance.now()
    await fn()
    return performance.now() - t
  }
  let seq = 0
  try {
    await rt.network!.ensure()
    const on = { create: [] as number[], destroy: [] as number[] }
    const off = { create: [] as number[], destroy: [] as number[] }
    // Alternating on and off, the order swapped every round: a load spike of this shared machine hits
    // both alike, and the kernel's asynchronous teardown of one destroy's namespaces weighs on either.
    const pairs = [
      [true, on],
      [false, off],
    ] as const
    for (let i = 0; i < warmUp + samples; i++) {
      for (const [egress, into] of i % 2 === 0 ? pairs : [...pairs].reverse()) {
        const id = `sbx_benchnet${seq++}`
        let ref: Awaited<ReturnType<LocalRuntime['start']>> | undefined
        const c = await ms(async () => (ref = await rt.start(spec(id, egress))))
        const d = await ms(() => rt.destroy(id, ref))
        if (i < warmUp) continue
        into.create.push(c)
        into.destroy.push(d)
      }
    }
    const p50 = (xs: number[]) => metric('', '', xs).p50
    const added = Math.round((p50(on.create) - p50(off.create)) * 1000) / 1000
    return {
      name: 'network-setup',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('create, network.egress (ready for exec)', 'ms', on.create),
        metric('create, loopback only (ready for exec)', 'ms', off.create),
        figure('network setup added to create p50', 'ms', added, { target: '<= 5 ms' }),
        metric('destroy, network.egress (pair gone)', 'ms', on.destroy),
        metric('destroy, loopback only', 'ms', off.destroy),
      ],
    }
  } finally {
    for (const id of await rt.list()) await rt.destroy(id).catch(() => {})
    await rt.releaseIdle()
    rt.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
