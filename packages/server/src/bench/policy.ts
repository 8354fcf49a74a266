/**
 * @module bench/policy — Cedar decisions (uncached and cached, the default and the example policy) and
 * what policy evaluation adds to the API's exec: the same `exec true` on three servers in one run,
 * interleaved: the default policy, policy evaluation off (scopes only), and the example agent-run policy.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient, type Api, type Principal } from '@tidepool/sdk'
import { builtinActions } from '../actions/catalog.js'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane, type ControlPlane } from '../main.js'
import { PolicyEngine } from '../policy/engine.js'
import type { CallContext, ResourceFacts } from '../policy/entities.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { machine, metric, type BenchResult, type Metric } from './result.js'

const decisions = 3000
const execSamples = 150
const warmup = 15
const example = fileURLToPath(new URL('../../../../examples/policy/agent-run.cedar', import.meta.url))

function decisionMetrics(label: string, files: string[]): Metric[] {
  const actions = [...builtinActions.values()]
  const principal: Principal = { tokenId: 'tok_bench', name: 'agent run=r1', project: 'default', scopes: ['sandboxes:read', 'sandboxes:write'] }
  const resource: ResourceFacts = { kind: 'sandbox', id: 'sbx_bench', project: 'default', state: 'running', labels: { run: 'r1' } }
  const context: CallContext = { op: 'exec', requiredScopes: ['sandboxes:write'], readOnly: false, sandboxId: 'sbx_bench' }
  const out: Metric[] = []
  for (const [kind, cacheSize] of [
    ['uncached', 0],
    ['cached', 10_000],
  ] as const) {
    const engine = new PolicyEngine({ files, actions, cacheSize })
    const times: number[] = []
    for (let i = 0; i < 200 + decisions; i++) {
      const t = performance.now()
      if (!engine.decide(principal, 'exec', resource, context).allow) throw new Error(`${label}: exec was denied`)
      if (i >= 200) times.push((performance.now() - t) * 1000)
    }
    out.push(metric(`Cedar decision, ${label}, ${kind}`, 'µs', times, { target: 'p50 <= 50 µs' }))
  }
  return out
}

interface Plane {
  cp: ControlPlane
  home: string
  api: Api
  admin: Api
  sandbox: string
}

async function plane(name: string, opts: { policyFiles?: string[]; evaluate?: boolean; agent?: boolean }): Promise<Plane> {
  const home = mkdtempSync(join(tmpdir(), `tidepool-bench-policy-${name}-`))
  const overrides = { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName: `tidepool-bench-policy-${name}-${process.pid}` }, policy: { files: opts.policyFiles ?? [] } }
  const cp = await buildControlPlane(loadConfig({ env: {}, overrides }), { logger: silentLogger, reaper: false, policyEvaluation: opts.evaluate ?? true })
  const { url } = await cp.listen()
  const admin = createClient({ baseUrl: url, token: cp.adminToken! })
  const token = opts.agent ? (await admin.createToken({ project: 'default', scopes: ['sandboxes:read', 'sandboxes:write'], name: 'bench-agent run=r1' })).token : cp.adminToken!
  const { id } = await admin.createSandbox({ metadata: { run: 'r1' } })
  return { cp, home, api: createClient({ baseUrl: url, token }), admin, sandbox: id }
}

async function close(p: Plane): Promise<void> {
  // By the admin: the example policy does not let its agent token delete.
  await p.admin.deleteSandbox({ id: p.sandbox })
  await p.cp.close()
  const local = namespacesLevel(p.cp.svc.runtime)
  if (local instanceof LocalRuntime) await local.removeCgroupParents()
  rmSync(p.home, { recursive: true, force: true })
}

export async function run(): Promise<BenchResult> {
  const metrics = [...decisionMetrics('default policy', []), ...decisionMetrics('example agent-run policy', [example])]
  const planes: Record<'off' | 'default' | 'example', Plane> = {} as never
  try {
    planes.off = await plane('off', { evaluate: false })
    planes.default = await plane('default', {})
    planes.example = await plane('example', { policyFiles: [example], agent: true })
    const times: Record<keyof typeof planes, number[]> = { off: [], default: [], example: [] }
    for (let i = 0; i < warmup + execSamples; i++) {
      // Interleaved: each round times all three, so drift on a shared machine hits them alike.
      for (const k of ['off', 'default', 'example'] as const) {
        const p = planes[k]
        const t = performance.now()
        const r = await p.api.exec({ id: p.sandbox, cmd: ['true'] })
        if (r.exitCode !== 0) throw new Error(`exec on ${k} exited ${r.exitCode}`)
        if (i >= warmup) times[k].push(performance.now() - t)
      }
    }
    const offP50 = metric('x', 'ms', times.off).p50
    const target = `p50 <= 1.10x policy off (${Math.round(offP50 * 1.1 * 1000) / 1000} ms)`
    metrics.push(
      metric('API exec `true`, policy evaluation off (scopes only)', 'ms', times.off),
      metric('API exec `true`, default policy', 'ms', times.default, { target, peer: { name: 'policy evaluation off', p50: offP50 } }),
      metric('API exec `true`, example policy (agent token, sandbox labels looked up)', 'ms', times.example, { target, peer: { name: 'policy evaluation off', p50: offP50 } }),
    )
    return { name: 'policy', at: new Date().toISOString(), machine: machine(), metrics }
  } finally {
    for (const p of Object.values(planes)) await close(p)
  }
}
