/**
 * @module bench/e2b — the unmodified e2b SDK against tidepool beside tidepool's own SDK, interleaved in one
 * run on one server: sandbox create (to a first command's readiness: create returns a running sandbox in
 * both) and `commands.run('true')` / `exec true` round trips.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { apiKeyOf } from '../e2b/keys.js'
import { buildControlPlane } from '../main.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { machine, metric, type BenchResult } from './result.js'

const createSamples = 30
const execSamples = 200
const warmup = 5

export async function run(): Promise<BenchResult> {
  const { Sandbox } = await import('e2b')
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-e2b-'))
  const cgroupName = `tidepool-bench-e2b-${process.pid}`
  const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 512, pids: 256 } } })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  try {
    const { url } = await cp.listen()
    const api = createClient({ baseUrl: url, token: cp.adminToken! })
    const opts = { apiKey: apiKeyOf(cp.adminToken!), apiUrl: url, sandboxUrl: url }
    const ms = async (f: () => Promise<unknown>) => {
      const t = performance.now()
      await f()
      return performance.now() - t
    }
    const create = { e2b: [] as number[], tidepool: [] as number[] }
    for (let i = 0; i < warmup + createSamples; i++) {
      // Interleaved: each round times both, so drift on a shared machine hits them alike.
      let e2bId = ''
      let tpId = ''
      const a = await ms(async () => (e2bId = (await Sandbox.create(opts)).sandboxId))
      const b = await ms(async () => (tpId = (await api.createSandbox({})).id))
      await Sandbox.kill(e2bId, opts)
      await api.deleteSandbox({ id: tpId })
      if (i >= warmup) (create.e2b.push(a), create.tidepool.push(b))
    }
    const sbx = await Sandbox.create(opts)
    const exec = { e2b: [] as number[], tidepool: [] as number[] }
    for (let i = 0; i < warmup + execSamples; i++) {
      const a = await ms(() => sbx.commands.run('true'))
      const b = await ms(() => api.exec({ id: sbx.sandboxId, cmd: ['true'] }))
      if (i >= warmup) (exec.e2b.push(a), exec.tidepool.push(b))
    }
    await sbx.kill()
    const createP50 = metric('x', 'ms', create.tidepool).p50
    const execP50 = metric('x', 'ms', exec.tidepool).p50
    const r = (x: number) => Math.round(x * 1000) / 1000
    return {
      name: 'e2b',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('create via tidepool SDK', 'ms', create.tidepool),
        metric('create via e2b SDK (Sandbox.create)', 'ms', create.e2b, { target: `p50 <= 1.3x tidepool SDK (${r(createP50 * 1.3)} ms)`, peer: { name: 'tidepool SDK create', p50: createP50 } }),
        metric('exec `true` via tidepool SDK', 'ms', exec.tidepool),
        metric("commands.run('true') via e2b SDK", 'ms', exec.e2b, { target: `p50 <= 1.5x tidepool SDK (${r(execP50 * 1.5)} ms)`, peer: { name: 'tidepool SDK exec', p50: execP50 } }),
      ],
    }
  } finally {
    await cp.close()
    const local = namespacesLevel(cp.svc.runtime)
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    rmSync(home, { recursive: true, force: true })
  }
}
