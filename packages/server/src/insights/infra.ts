/** @module insights/infra — is a red run an infrastructure outage? Resource saturation from infra metrics. */
import type { InfraMetrics } from '@tidepool/sdk'
import type { InsightsConfig } from './config.js'

export interface RunFailures {
  /** Distinct tests in the run. */
  tests: number
  /** Failing tests (final outcome fail) with their signature and suite. */
  failing: { testId: string; signature: string; suite: string; infraLike: boolean }[]
}

export interface InfraVerdict {
  suspect: boolean
  reason?: string
}

export interface RunContext {
  /** Tests that failed in the previous run of the same branch and variant. */
  prevFailing?: ReadonlySet<string> | undefined
  /** The signature keeps showing up in recent runs (a flaky test's usual error, not a sudden outage). */
  isBackground?: ((signature: string) => boolean) | undefined
}

/**
 * A run is an infrastructure suspect when ≥ failShare of its tests fail, or when most failures share one signature
 * that looks like infrastructure — or, for any other signature, spans ≥ minSuites suites and is sudden: not a
 * background error of recent runs, and not the same tests failing as in the previous run of the branch (a
 * persistent shared failure is a breakage, not an outage).
 */
export function classifyRun(run: RunFailures, ctx: RunContext, cfg: InsightsConfig['infra']): InfraVerdict {
  const failed = run.failing.length
  if (failed === 0) return { suspect: false }
  const share = failed / Math.max(1, run.tests)
  if (run.tests >= cfg.minTests && share >= cfg.failShare) {
    return { suspect: true, reason: `${failed} of ${run.tests} tests failed (${pct(share)} ≥ ${pct(cfg.failShare)})` }
  }
  if (failed < cfg.minFailures) return { suspect: false }
  const bySig = new Map<string, { n: number; suites: Set<string>; infraLike: boolean; tests: string[] }>()
  for (const f of run.failing) {
    let g = bySig.get(f.signature)
    if (!g) bySig.set(f.signature, (g = { n: 0, suites: new Set(), infraLike: f.infraLike, tests: [] }))
    g.n++
    g.suites.add(f.suite)
    g.tests.push(f.testId)
  }
  let top: [string, { n: number; suites: Set<string>; infraLike: boolean; tests: string[] }] | undefined
  for (const e of bySig) if (!top || e[1].n > top[1].n) top = e
  if (!top) return { suspect: false }
  const [sig, g] = top
  const sigShare = g.n / failed
  if (sigShare <= cfg.signatureShare) return { suspect: false }
  if (g.infraLike) return { suspect: true, reason: `${g.n} of ${failed} failures share infrastructure-like signature ${sig}` }
  const prev = ctx.prevFailing
  const persistent = prev !== undefined && g.tests.filter((t) => prev.has(t)).length >= g.n / 2
  if (g.suites.size >= cfg.minSuites && !persistent && !ctx.isBackground?.(sig)) {
    return { suspect: true, reason: `${g.n} of ${failed} failures across ${g.suites.size} suites share new signature ${sig}` }
  }
  return { suspect: false }
}

/**
 * Saturation findings from a run's infra facts (and event samples), for root cause and remediation: the run
 * was memory-starved (OOM kills, or a peak near its limit), CPU-starved, or pids-starved (forks refused at
 * the pids limit). The figures come from the CI or, for a run in tidepool sandboxes, from their cgroups.
 */
export function saturation(metrics: readonly (InfraMetrics | undefined)[], cfg: InsightsConfig['infra']): string[] {
  let cpu = 0
  let mem = 0
  let oom = 0
  let disk = 0
  let pidsHits = 0
  let peak: { bytes: number; limit: number } | undefined
  for (const m of metrics) {
    if (!m) continue
    cpu = Math.max(cpu, m.cpuPct ?? 0)
    mem = Math.max(mem, m.memoryPct ?? 0)
    oom += m.oomKills ?? 0
    disk = Math.max(disk, m.diskPct ?? 0)
    pidsHits += typeof m.pidsLimitHits === 'number' ? m.pidsLimitHits : 0
    if (typeof m.memoryPeakBytes === 'number' && typeof m.memoryLimitBytes === 'number' && m.memoryLimitBytes > 0) peak = { bytes: m.memoryPeakBytes, limit: m.memoryLimitBytes }
  }
  const out: string[] = []
  if (oom > 0) out.push(`memory-starved: ${oom} process(es) OOM-killed`)
  if (mem >= cfg.memoryPct) out.push(`memory-starved: memory peaked at ${Math.round(mem)}% of its limit${peak ? ` (${mib(peak.bytes)} of ${mib(peak.limit)})` : ''}`)
  if (cpu >= cfg.cpuPct) out.push(`CPU-starved: CPU peaked at ${Math.round(cpu)}% of its limit`)
  if (pidsHits > 0) out.push(`pids-starved: the pids limit refused ${pidsHits} fork(s)`)
  if (disk >= 95) out.push(`disk at ${Math.round(disk)}%`)
  return out
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`
}
