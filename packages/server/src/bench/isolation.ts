/** @module bench/isolation — namespaces vs gvisor through the real API, interleaved in one run: create, exec `true`, idle memory. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Isolation } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { IsolatingRuntime } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { figure, machine, metric, type BenchResult } from './result.js'

const createSamples = 20
const execSamples = 60
const idleCount = 10
const levels: Isolation[] = ['namespaces', 'gvisor']

export async function run(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-iso-'))
  const cgroupName = `tidepool-bench-iso-${process.pid}`
  const config = loadConfig({
    env: {},
    overrides: {
      home,
      port: 0,
      logLevel: 'silent',
      runtime: { kind: 'local', cgroupName, network: { enabled: false } },
      defaults: { cpu: 1, memoryMb: 512, pids: 256 },
      quotas: { default: { sandboxes: 100, memoryMb: 1_000_000, cpu: 1000, pids: 1_000_000, diskMb: 1_000_000_000 }, projects: {} },
    },
  })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  try {
    const { url } = await cp.listen()
    const api = createClient({ baseUrl: url, token: cp.adminToken! })
    const ms = async (fn: () => Promise<unknown>) => {
      const t = performance.now()
      await fn()
      return performance.now() - t
    }
    // Warm-up of both levels (host templates, page cache, JIT).
    for (const isolation of levels) {
      for (let i = 0; i < 2; i++) {
        const s = await api.createSandbox({ isolation })
        await api.exec({ id: s.id, cmd: ['true'] })
        await api.deleteSandbox({ id: s.id })
      }
    }
    const create: Record<Isolation, number[]> = { namespaces: [], gvisor: [] }
    const destroy: Record<Isolation, number[]> = { namespaces: [], gvisor: [] }
    for (let i = 0; i < createSamples; i++) {
      for (const isolation of levels) {
        let id = ''
        create[isolation].push(await ms(async () => (id = (await api.createSandbox({ isolation })).id)))
        destroy[isolation].push(await ms(() => api.deleteSandbox({ id })))
      }
    }
    const sbx = { namespaces: (await api.createSandbox({ isolation: 'namespaces' })).id, gvisor: (await api.createSandbox({ isolation: 'gvisor' })).id }
    const exec: Record<Isolation, number[]> = { namespaces: [], gvisor: [] }
    for (let i = 0; i < execSamples; i++) for (const isolation of levels) exec[isolation].push(await ms(() => api.exec({ id: sbx[isolation], cmd: ['true'] })))
    for (const id of Object.values(sbx)) await api.deleteSandbox({ id })

    // Idle memory: N sandboxes of each level alive; what their cgroups hold (for gvisor: sentry, gofer, guest).
    const idle: Record<Isolation, number> = { namespaces: 0, gvisor: 0 }
    for (const isolation of levels) {
      const ids: string[] = []
      for (let i = 0; i < idleCount; i++) ids.push((await api.createSandbox({ isolation, timeoutMs: 600_000 })).id)
      await new Promise((r) => setTimeout(r, 1000))
      idle[isolation] = cgroupMemory(isolation === 'gvisor' ? `${cgroupName}-gvisor` : cgroupName) / idleCount / 2 ** 20
      for (const id of ids) await api.deleteSandbox({ id })
    }
    const peer = (name: string, samples: number[]) => ({ peer: { name, p50: metric(name, 'ms', samples).p50 } })
    return {
      name: 'isolation',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('create (ready for exec), gvisor', 'ms', create.gvisor, { target: 'p50 <= 150 ms', ...peer('namespaces', create.namespaces) }),
        metric('create (ready for exec), namespaces', 'ms', create.namespaces),
        metric('exec `true` round trip, gvisor', 'ms', exec.gvisor, { target: 'p50 <= 15 ms', ...peer('namespaces', exec.namespaces) }),
        metric('exec `true` round trip, namespaces', 'ms', exec.namespaces),
        metric('destroy, gvisor', 'ms', destroy.gvisor, peer('namespaces', destroy.namespaces)),
        metric('destroy, namespaces', 'ms', destroy.namespaces),
        figure(`idle memory per sandbox (${idleCount} alive), gvisor`, 'MiB', idle.gvisor, { peer: { name: 'namespaces', p50: Math.round(idle.namespaces * 100) / 100 } }),
        figure(`idle memory per sandbox (${idleCount} alive), namespaces`, 'MiB', idle.namespaces),
      ],
    }
  } finally {
    await cp.close()
    const rt = cp.svc.runtime
    const local = rt instanceof IsolatingRuntime ? rt.levels.namespaces : rt
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    await rt.releaseIdle?.()
    rmSync(home, { recursive: true, force: true })
  }
}

/** Memory of a cgroup subtree (v1 memory controller, or cgroup2). */
function cgroupMemory(name: string): number {
  for (const file of [`/sys/fs/cgroup/memory/${name}/memory.usage_in_bytes`, `/sys/fs/cgroup/${name}/memory.current`]) {
    if (existsSync(file)) return Number(readFileSync(file, 'utf8').trim())
  }
  return 0
}
