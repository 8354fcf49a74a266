/** @module bench/sandbox — create / exec / destroy latency through the real API, and idle memory per sandbox. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { figure, machine, metric, type BenchResult } from './result.js'

const createSamples = 60
const execSamples = 300
const idleCount = 500
const settleMs = 2000

export async function run(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-'))
  const cgroupName = `tidepool-bench-${process.pid}`
  const config = loadConfig({
    env: {},
    overrides: {
      home,
      port: 0,
      logLevel: 'silent',
      runtime: { kind: 'local', cgroupName },
      // The configured defaults (a whole core, 512 MiB): a fractional CFS quota or a tight memory limit would
      // throttle or reclaim during the very fork/exec being timed.
      defaults: { cpu: 1, memoryMb: 512, pids: 256 },
      quotas: { default: { sandboxes: idleCount + 10, memoryMb: 1_000_000, cpu: 1000, pids: 1_000_000, diskMb: 1_000_000_000 }, projects: {} },
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

    // Warm-up: template skeleton, page cache, JIT.
    for (let i = 0; i < 5; i++) {
      const s = await api.createSandbox({})
      await api.exec({ id: s.id, cmd: ['true'] })
      await api.deleteSandbox({ id: s.id })
    }

    const create: number[] = []
    const destroy: number[] = []
    const firstExec: number[] = []
    for (let i = 0; i < createSamples; i++) {
      let id = ''
      create.push(await ms(async () => (id = (await api.createSandbox({})).id)))
      firstExec.push(await ms(() => api.exec({ id, cmd: ['true'] })))
      destroy.push(await ms(() => api.deleteSandbox({ id })))
    }

    // The kernel finishes tearing the destroyed sandboxes down in the background (cgroup offlining, RCU
    // callbacks); let that settle so the exec figures measure exec, not the previous phase's cleanup.
    await new Promise((r) => setTimeout(r, settleMs))
    const sbx = await api.createSandbox({})
    const exec: number[] = []
    for (let i = 0; i < execSamples; i++) exec.push(await ms(() => api.exec({ id: sbx.id, cmd: ['true'] })))
    // The same calls without fetch (undici) on the client side: how much of the round trip is the client's.
    const rawExec: number[] = []
    const post = keepAlivePost(url, cp.adminToken!)
    for (let i = 0; i < execSamples; i++) rawExec.push(await ms(() => post(`/v1/sandboxes/${sbx.id}/exec`, { cmd: ['true'] })))
    await api.deleteSandbox({ id: sbx.id })

    // Idle overhead: N sandboxes alive at once; cgroup memory of all of them plus the kernel slab they cost.
    const slab0 = slabBytes()
    const ids: string[] = []
    const t0 = performance.now()
    for (let i = 0; i < idleCount; i++) ids.push((await api.createSandbox({ timeoutMs: 600_000 })).id)
    const createAllS = (performance.now() - t0) / 1000
    await new Promise((r) => setTimeout(r, 500))
    const cgroupBytes = cgroupMemory(cgroupName)
    const slabDelta = Math.max(0, slabBytes() - slab0)
    const perSandboxMiB = (cgroupBytes + slabDelta) / idleCount / 2 ** 20
    for (const id of ids) await api.deleteSandbox({ id })

    return {
      name: 'sandbox',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('create (ready for exec) via API', 'ms', create, { target: 'p50 <= 25 ms' }),
        metric('first exec after create via API', 'ms', firstExec),
        metric('exec `true` round trip via API', 'ms', exec, { target: 'p50 <= 6 ms' }),
        metric('  same, node:http keep-alive client instead of fetch', 'ms', rawExec),
        metric('destroy via API', 'ms', destroy),
        figure(`idle overhead per sandbox (${idleCount} alive)`, 'MiB', perSandboxMiB, { target: '<= 2 MiB' }),
        figure(`  of which cgroup memory per sandbox`, 'MiB', cgroupBytes / idleCount / 2 ** 20),
        figure(`  of which kernel slab per sandbox`, 'MiB', slabDelta / idleCount / 2 ** 20),
        figure(`create ${idleCount} sandboxes one after another`, 's', createAllS),
      ],
    }
  } finally {
    await cp.close()
    // The runtime leaves its (empty) parent cgroups and its disk pool for the next start; the bench used
    // a name and a home of its own. The pool is mounted inside the home: release it before removing that.
    const local = namespacesLevel(cp.svc.runtime)
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    rmSync(home, { recursive: true, force: true })
  }
}

/** POST JSON over one keep-alive connection with node:http, resolving with the parsed answer. */
function keepAlivePost(baseUrl: string, token: string): (path: string, body: unknown) => Promise<unknown> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  return (path, body) =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body)
      const req = httpRequest(
        `${baseUrl}${path}`,
        { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8')}`)),
          )
        },
      )
      req.on('error', reject)
      req.end(data)
    })
}

function slabBytes(): number {
  const m = /^Slab:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

function cgroupMemory(name: string): number {
  for (const file of [`/sys/fs/cgroup/memory/${name}/memory.usage_in_bytes`, `/sys/fs/cgroup/${name}/memory.current`]) {
    if (existsSync(file)) return Number(readFileSync(file, 'utf8').trim())
  }
  return Number.NaN
}
