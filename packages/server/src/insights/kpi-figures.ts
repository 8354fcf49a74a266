/** @module insights/kpi-figures — the pure parts of the KPIs: re-runs and waste, flaky share and repair time, run timings and cost, PR-to-merge, the A/B arms. */
import { decidedAutomatically } from '../audit/system-actor.js'
import type { Kpis, Remediation } from '@tidepool/sdk'
import { parseJson } from './runs.js'
import { quantile } from './stats.js'
import type { RunRow } from './tables.js'

export const unitMs = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

export const isRed = (r: RunRow) => r.failed > 0
export const isGreen = (r: RunRow) => r.failed === 0 && r.file_errors === 0 && r.tests > 0

export interface Rerun {
  wastedMs: number
  greenAfter: boolean
  toGreenMin?: number
}

/** Red runs that were re-run (a later attempt of the same commit, pipeline and variant), with their wasted time and the time to green. */
export function rerunsOf(runs: readonly RunRow[]): Map<string, Rerun> {
  const line = (r: RunRow) => `${r.commit_sha}\u0000${r.pipeline ?? ''}\u0000${r.variant_key}`
  const byLine = new Map<string, RunRow[]>()
  for (const r of runs) byLine.set(line(r), [...(byLine.get(line(r)) ?? []), r])
  const wallMs = (r: RunRow) => parseJson<{ durationMs?: number }>(r.infra)?.durationMs ?? r.test_ms
  const rerunOf = new Map<string, Rerun>()
  for (const rs of byLine.values()) {
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!
      if (!isRed(r)) continue
      const later = rs.slice(i + 1)
      if (later.length === 0) continue
      const g = later.find(isGreen)
      rerunOf.set(r.id, { wastedMs: wallMs(r), greenAfter: g !== undefined, ...(g ? { toGreenMin: (g.at - r.at) / 60_000 } : {}) })
    }
  }
  return rerunOf
}

/** Share of failures that belong to flaky tests, outage runs left out (null without failures). */
export function flakyFailureShare(failRows: readonly { test_id: string; run_id: string }[], infraRuns: ReadonlySet<string>, status: ReadonlyMap<string, string>): number | null {
  let fails = 0
  let flakyFails = 0
  for (const f of failRows) {
    if (infraRuns.has(f.run_id)) continue
    fails++
    if (status.get(f.test_id) === 'flaky') flakyFails++
  }
  return fails ? round(flakyFails / fails) : null
}

/** Hours from "became flaky" to "recovered", for recoveries in [from, to] (the status log in order). */
export function flakyRepairHours(log: readonly { test_id: string; at: number; from_status: string; to_status: string }[], from: number, to: number): number[] {
  const flakySince = new Map<string, number>()
  const repairs: number[] = []
  for (const l of log) {
    if (l.to_status === 'flaky') flakySince.set(l.test_id, l.at)
    else if (l.from_status === 'flaky') {
      const s = flakySince.get(l.test_id)
      if (s !== undefined && l.at >= from && l.at <= to) repairs.push((l.at - s) / unitMs.h)
      flakySince.delete(l.test_id)
    }
  }
  return repairs
}

export const dist = (xs: number[]) => ({ n: xs.length, p50: xs.length ? round(quantile(xs, 0.5)) : null, p95: xs.length ? round(quantile(xs, 0.95)) : null })

/** Queue and setup times and cost of the runs, from what CI reported in `infra`. */
export function runFigures(runs: readonly RunRow[]): { queue: number[]; setup: number[]; cost: Kpis['cost'] } {
  const queue: number[] = []
  const setup: number[] = []
  let costRuns = 0
  const costByPr = new Map<string, number>()
  const costByPipeline: Record<string, number> = {}
  for (const r of runs) {
    const infra = parseJson<{ queueMs?: number; setupMs?: number; costUsd?: number }>(r.infra)
    if (typeof infra?.queueMs === 'number') queue.push(infra.queueMs)
    if (typeof infra?.setupMs === 'number') setup.push(infra.setupMs)
    if (typeof infra?.costUsd === 'number') {
      costRuns++
      if (r.pr) costByPr.set(r.pr, (costByPr.get(r.pr) ?? 0) + infra.costUsd)
      const p = r.pipeline ?? '(none)'
      costByPipeline[p] = round((costByPipeline[p] ?? 0) + infra.costUsd)
    }
  }
  const cost = {
    perPrUsd: costByPr.size ? round([...costByPr.values()].reduce((a, b) => a + b, 0) / costByPr.size) : null,
    perPipelineUsd: costByPipeline,
    ...(costRuns === 0 ? { note: 'no metering in this window: runs carry no infra.costUsd' } : {}),
  }
  return { queue, setup, cost }
}

/** PR-to-merge hours from pr_opened / pr_merged events, for merges in [from, to]. */
export function prToMergeHours(events: readonly { kind: string; at: number; pr: string | null; body: string }[], from: number, to: number): number[] {
  const opened = new Map<string, number>()
  const merged = new Map<string, number>()
  for (const e of events) {
    const pr = e.pr ?? parseJson<{ data?: { pr?: string } }>(e.body)?.data?.pr
    if (!pr) continue
    if (e.kind === 'pr_opened') opened.set(pr, Math.min(opened.get(pr) ?? Number.POSITIVE_INFINITY, e.at))
    else merged.set(pr, Math.max(merged.get(pr) ?? 0, e.at))
  }
  const prHours: number[] = []
  for (const [pr, m] of merged) {
    const o = opened.get(pr)
    if (o !== undefined && m >= from && m <= to && m >= o) prHours.push((m - o) / unitMs.h)
  }
  return prHours
}

/** What happened to the remediations decided in the window. */
export function remediationFigures(rems: readonly Remediation[]): Kpis['remediation'] {
  const auto = rems.filter((m) => decidedAutomatically(m.decidedBy) && (m.status === 'applied' || m.status === 'reverted'))
  const autoAccepted = auto.filter((m) => m.status === 'applied')
  const humanApplied = rems.filter((m) => m.status === 'applied' && !decidedAutomatically(m.decidedBy))
  const rejected = rems.filter((m) => m.status === 'rejected')
  const pending = rems.filter((m) => m.status === 'suggested')
  const suggestionsSeen = humanApplied.length + rejected.length + pending.length
  return {
    suggested: rems.filter((m) => m.status !== 'refused').length,
    applied: rems.filter((m) => m.status === 'applied').length,
    auto: auto.length,
    autoAccepted: autoAccepted.length,
    autoAcceptedRate: auto.length ? round(autoAccepted.length / auto.length) : null,
    suggestionsAcceptedRate: suggestionsSeen ? round(humanApplied.length / suggestionsSeen) : null,
    refused: rems.filter((m) => m.status === 'refused').length,
  }
}

/** One arm of the suggest/auto A/B comparison: its runs, their remediations and outcomes. */
export function abArm(name: 'suggest' | 'auto', runs: readonly RunRow[], rems: readonly Remediation[], rerunOf: ReadonlyMap<string, Rerun>): Kpis['ab']['suggest'] {
  const rs = runs.filter((r) => r.arm === name)
  const ids = new Set(rs.map((r) => r.id))
  const ms = rems.filter((m) => m.runId !== undefined && ids.has(m.runId))
  const toGreen = rs.map((r) => rerunOf.get(r.id)?.toGreenMin).filter((x): x is number => x !== undefined)
  return {
    runs: rs.length,
    red: rs.filter(isRed).length,
    remediations: ms.length,
    applied: ms.filter((m) => m.status === 'applied' || m.status === 'reverted').length,
    accepted: ms.filter((m) => m.status === 'applied').length,
    greenAfterRerun: rs.filter((r) => rerunOf.get(r.id)?.greenAfter).length,
    minutesWasted: round(rs.reduce((a, r) => a + (rerunOf.get(r.id)?.wastedMs ?? 0), 0) / 60_000),
    medianTimeToGreenMin: toGreen.length ? round(quantile(toGreen, 0.5)) : null,
  }
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
