/**
 * @module bench/peers — tidepool beside bubblewrap, sandbox-runtime, runc and podman on the same
 * workloads, interleaved in one loop (each iteration visits every peer, in a rotating order), so a
 * noisy moment of the host lands on all of them: (a) create → first `true` done, (b) `true` in a
 * running sandbox, (c) create + `true` + destroy with 4 concurrent clients (cycles/s per round),
 * (d) a one-shot run of `true`. A peer that cannot run here is skipped with the reason.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Client } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { bwrapPeer, limits, podmanPeer, runcPeer, sandboxRuntimePeer, tidepoolPeer, type Peer } from './peers-drivers.js'
import { ensureDebianTools, ensureSandboxRuntime, makeRootfs } from './peers-setup.js'
import { machine, metric, type BenchResult, type Metric } from './result.js'

const createIterations = 40
const execIterations = 200
const oneShotIterations = 150
const concurrency = 4
const cyclesPerClient = 5
const cycleRounds = 6
const poolProject = 'bench-pool'

type Samples = Map<string, number[]>

export async function run(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-peers-home-'))
  const cgroupName = `tidepool-bench-peers-${process.pid}`
  const config = loadConfig({
    env: {},
    overrides: {
      home,
      port: 0,
      logLevel: 'silent',
      runtime: { kind: 'local', cgroupName },
      defaults: { ...limits },
      quotas: { default: { sandboxes: 100, memoryMb: 1_000_000, cpu: 1000, pids: 1_000_000, diskMb: 1_000_000_000 }, projects: {} },
      warmPools: [{ project: poolProject, template: 'default', replicas: concurrency }],
    },
  })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  const dir = makeRootfs()
  const peers: Peer[] = []
  const skipped: { name: string; reason: string }[] = []
  try {
    const { url } = await cp.listen()
    const api = createClient({ baseUrl: url, token: cp.adminToken! })
    const { token } = await api.createToken({ project: poolProject, scopes: ['sandboxes:write', 'sandboxes:read'], name: 'bench-pool' })
    const pooled: Client = createClient({ baseUrl: url, token })
    peers.push(...tidepoolPeer(api, pooled))
    await setUpPeers(dir, peers, skipped)
    await cp.svc.sandboxes.pools.settled()

    // Warm-up: page cache, JIT, each peer's first start.
    for (const p of peers) for (let i = 0; i < 3; i++) await cycle(p)
    const a: Samples = new Map()
    const b: Samples = new Map()
    const c: Samples = new Map()
    const d: Samples = new Map()
    const add = (s: Samples, name: string, v: number) => (s.get(name) ?? s.set(name, []).get(name)!).push(v)
    // The runtime's phases of tidepool's starts (create loop and one-shot loop apart): where p50 and the tail go.
    const phases = { create: new Map() as Samples, oneShot: new Map() as Samples }
    let phaseSink: Samples | undefined
    const level = namespacesLevel(cp.svc.runtime)
    const runtime = level instanceof LocalRuntime ? level : undefined
    if (runtime) runtime.startTimings = (phase, ms) => phaseSink && add(phaseSink, phase, ms)
    const timed = async <T>(sink: Samples | undefined, fn: () => Promise<T>): Promise<T> => {
      phaseSink = sink
      try {
        return await fn()
      } finally {
        phaseSink = undefined
      }
    }

    for (let i = 0; i < createIterations; i++) {
      for (const p of rotate(peers, i)) {
        if (p.name.includes('warm pool')) continue
        const t = performance.now()
        const s = await timed(p.name === 'tidepool' ? phases.create : undefined, () => p.start())
        await s.execTrue()
        add(a, p.name, performance.now() - t)
        await s.destroy()
      }
    }
    const running = new Map<string, Awaited<ReturnType<Peer['start']>>>()
    for (const p of peers) if (!p.name.includes('warm pool')) running.set(p.name, await p.start())
    for (let i = 0; i < execIterations; i++) {
      for (const p of rotate(peers, i)) {
        const s = running.get(p.name)
        if (!s) continue
        const t = performance.now()
        await s.execTrue()
        add(b, p.name, performance.now() - t)
      }
    }
    for (const s of running.values()) await s.destroy()
    for (let r = 0; r < cycleRounds; r++) {
      for (const p of rotate(peers, r)) {
        if (p.name.includes('warm pool')) continue
        const t = performance.now()
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            for (let k = 0; k < cyclesPerClient; k++) await cycle(p)
          }),
        )
        add(c, p.name, (concurrency * cyclesPerClient) / ((performance.now() - t) / 1000))
      }
    }
    for (let i = 0; i < oneShotIterations; i++) {
      for (const p of rotate(peers, i)) {
        if (!p.oneShot) continue
        const t = performance.now()
        await timed(p.name === 'tidepool' ? phases.oneShot : undefined, () => p.oneShot!())
        add(d, p.name, performance.now() - t)
      }
      // Let the pool refill between runs, as it would between CI steps (not counted).
      if (i % 4 === 3) await cp.svc.sandboxes.pools.settled()
    }
    await cp.svc.runs.flush()
    if (runtime) runtime.startTimings = undefined

    const bwrapOneShot = d.get('bubblewrap') ? metric('x', 'ms', d.get('bubblewrap')!).p50 : undefined
    return {
      name: 'peers',
      at: new Date().toISOString(),
      machine: machine(),
      skipped,
      notes: [
        ...peers.filter((p) => p.note).map((p) => `${p.name}: ${p.note}`),
        'runtime phases of tidepool starts (LocalRuntime.startTimings): layer = checks and the writable layer; cgroups = mkdir and limits (and a one-shot run’s exec cgroup); spawn = the synchronous part of spawning the helper (the event loop is blocked); helper = until init is ready (namespaces, mounts, v1 cgroup joins, id maps); record = the init file',
      ],
      metrics: [
        ...figures('create → first `true` done', 'ms', a),
        ...figures('exec `true` in a running sandbox', 'ms', b),
        ...figures(`create + true + destroy, ${concurrency} clients (per round of ${concurrency * cyclesPerClient})`, 'cycles/s', c),
        ...figures('one-shot run of `true`', 'ms', d, (name) => (name.startsWith('tidepool') && bwrapOneShot !== undefined ? { target: `p50 <= bubblewrap one-shot p50 (${bwrapOneShot} ms)` } : {})),
        ...figures('tidepool create, runtime phase', 'ms', phases.create),
        ...figures('tidepool one-shot run, runtime phase', 'ms', phases.oneShot),
      ],
    }
  } finally {
    for (const p of peers) await p.close().catch((err: unknown) => process.stderr.write(`  ${p.name}: cleanup failed: ${(err as Error).message}\n`))
    await cp.close()
    const local = namespacesLevel(cp.svc.runtime)
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    rmSync(home, { recursive: true, force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Installs what is missing and starts each peer once; a peer that fails is skipped with its error. */
async function setUpPeers(dir: string, peers: Peer[], skipped: { name: string; reason: string }[]): Promise<void> {
  const missing = await ensureDebianTools(['bwrap', 'runc', 'podman', 'socat', 'rg'])
  const attempt = async (name: string, needs: string[], make: () => Promise<Peer>) => {
    const why = needs.map((b) => missing.get(b)).find(Boolean)
    if (why) return void skipped.push({ name, reason: why })
    try {
      const p = await make()
      peers.push(p)
      await cycle(p) // a peer that cannot run `true` here is skipped, not a failure of the bench
    } catch (err) {
      const p = peers.at(-1)
      if (p?.name === name) {
        peers.pop()
        await p.close().catch(() => {})
      }
      skipped.push({ name, reason: (err as Error).message.slice(0, 500) })
    }
  }
  await attempt('bubblewrap', ['bwrap'], async () => bwrapPeer())
  await attempt('sandbox-runtime', ['bwrap', 'socat', 'rg'], async () => sandboxRuntimePeer(await ensureSandboxRuntime()))
  await attempt('runc', ['runc'], () => runcPeer(dir))
  await attempt('podman', ['podman', 'runc'], async () => podmanPeer(dir))
  for (const s of skipped) process.stderr.write(`  skipped ${s.name}: ${s.reason}\n`)
}

async function cycle(p: Peer): Promise<void> {
  const s = await p.start()
  try {
    await s.execTrue()
  } finally {
    await s.destroy()
  }
}

function rotate<T>(xs: T[], i: number): T[] {
  const k = i % xs.length
  return [...xs.slice(k), ...xs.slice(0, k)]
}

function figures(what: string, unit: string, s: Samples, extra: (name: string) => Partial<Metric> = () => ({})): Metric[] {
  return [...s].map(([name, xs]) => metric(`${what} [${name}]`, unit, xs, extra(name)))
}
