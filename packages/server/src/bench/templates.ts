/**
 * @module bench/templates — the control plane's side of issue #10 on the local runtime, through the
 * services the API calls (no HTTP, so the figures are the plane's own): a template rebuild that is a
 * cache hit, a reset of a sandbox to its template, a create that claims from a warm pool beside a
 * create that starts its own sandbox (the same run, interleaved), all from one built template.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Principal } from '@tidepool/sdk'
import { BuildTemplateInput } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { resetSandbox } from '../sandboxes/reset.js'
import { metric, machine, type BenchResult } from './result.js'

const samples = 30
const warmUp = 3

export async function run(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-tpl-'))
  const cgroupName = `tidepool-bench-tpl-${process.pid}`
  const config = loadConfig({
    env: {},
    overrides: { home, storeUrl: ':memory:', port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, warmPools: [{ project: 'bench', template: 'bench-app', replicas: 1 }] },
  })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  const who: Principal = { tokenId: 'bench', name: 'bench', project: 'bench', scopes: ['sandboxes:read', 'sandboxes:write'] }
  const ms = async (fn: () => Promise<unknown>) => {
    const t = performance.now()
    await fn()
    return performance.now() - t
  }
  const create = { template: 'bench-app', timeoutMs: 600_000, lifecycle: { onTimeout: 'kill' as const, autoResume: false }, resources: {}, envs: {}, metadata: {} }
  try {
    const spec = BuildTemplateInput.parse({
      name: 'bench-app',
      steps: [{ copy: { path: '/opt/app/config.json', content: '{"mode":"bench"}\n' } }, { run: 'mkdir -p /opt/app/data && seq 1 1000 > /opt/app/data/numbers' }],
    })
    await cp.svc.templates.build({ project: 'bench', admin: false }, spec)
    const hit: number[] = []
    for (let i = 0; i < warmUp + samples; i++) {
      const t = await ms(() => cp.svc.templates.build({ project: 'bench', admin: false }, spec))
      if (i >= warmUp) hit.push(t)
    }
    // The pool serves bench-app only now that it exists.
    await cp.svc.sandboxes.pools.configure()
    const claim: number[] = []
    const cold: number[] = []
    const reset: number[] = []
    for (let i = 0; i < warmUp + samples; i++) {
      await cp.svc.sandboxes.pools.settled()
      let a = ''
      const c = await ms(async () => (a = (await cp.svc.sandboxes.create(who, create)).id))
      // Other resources than the template's: no pool matches, so this create starts its own sandbox.
      let b = ''
      const s = await ms(async () => (b = (await cp.svc.sandboxes.create(who, { ...create, resources: { memoryMb: 300 } })).id))
      const r = await ms(() => resetSandbox(cp.svc.sandboxes, who, b))
      await cp.svc.sandboxes.destroy(who, a)
      await cp.svc.sandboxes.destroy(who, b)
      if (i < warmUp) continue
      claim.push(c)
      cold.push(s)
      reset.push(r)
    }
    const hits = cp.svc.sandboxes.pools.stats('bench')[0]?.hits ?? 0
    if (hits < samples) throw new Error(`only ${hits} of ${warmUp + samples} creates claimed from the pool; the figure would not be a claim`)
    const coldP50 = metric('', '', cold).p50
    return {
      name: 'templates',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('template rebuild, cache hit (2 steps)', 'ms', hit, { target: 'p50 <= 20 ms' }),
        metric('create claiming from a warm pool', 'ms', claim, { target: 'p50 <= 3 ms', peer: { name: 'create starting its own sandbox', p50: coldP50 } }),
        metric('create from a built template (own start)', 'ms', cold, { target: 'p50 <= 25 ms' }),
        metric('reset to the template', 'ms', reset, { target: 'p50 <= 30 ms' }),
      ],
    }
  } finally {
    await cp.close()
    // What a failed run may leave: sandboxes, the templates' snapshots, the cgroup parents (then the pool goes).
    const rt = new LocalRuntime({ dataDir: join(home, 'runtime'), cgroupName })
    for (const id of await rt.list()) await rt.destroy(id)
    for (const id of await rt.snapshots.list()) await rt.snapshots.delete(id)
    await rt.removeCgroupParents()
    rt.close()
    rmSync(home, { recursive: true, force: true })
  }
}
