/** @module insights/kpis — feedback-loop KPIs over a window, with the suggest/auto A/B comparison. */
import type { Kpis, Remediation } from '@tidepool/sdk'
import type { InsightsEnv } from './deps.js'
import { parseJson } from './runs.js'
import { quantile } from './stats.js'
import type { RunRow } from './tables.js'

const unitMs = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

export function windowMs(window: string): number {
  const m = /^(\d{1,4})([hdw])$/.exec(window)
  if (!m) return 7 * unitMs.d
  return Number(m[1]) * unitMs[m[2] as keyof typeof unitMs]
}

export async function computeKpis(env: InsightsEnv, project: string, window: string): Promise<Kpis> {
  const to = env.clock.now()
  const from = to - windowMs(window)
  const runs = await env.db.selectFrom('insight_runs').selectAll().where('project', '=', project).where('at', '>=', from).where('at', '<=', to).orderBy('at').execute()
  const red = (r: RunRow) => r.failed > 0
  const green = (r: RunRow) => r.failed === 0 && r.file_errors === 0 && r.tests > 0
  const first = runs.filter((r) => r.attempt === 1)
  const rerun = runs.filter((r) => r.attempt > 1 || r.flaky > 0)

  // Red runs that were re-run (a later attempt of the same commit, pipeline and variant), and the time to green.
  const line = (r: RunRow) => `${r.commit_sha}\u0000${r.pipeline ?? ''}\u0000${r.variant_key}`
  const byLine = new Map<string, RunRow[]>()
  for (const r of runs) byLine.set(line(r), [...(byLine.get(line(r)) ?? []), r])
  const wallMs = (r: RunRow) => parseJson<{ durationMs?: number }>(r.infra)?.durationMs ?? r.test_ms
  const rerunOf = new Map<string, { wastedMs: number; greenAfter: boolean; toGreenMin?: number }>()
  for (const rs of byLine.values()) {
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!
      if (!red(r)) continue
      const later = rs.slice(i + 1)
      if (later.length === 0) continue
      const g = later.find(green)
      rerunOf.set(r.id, { wastedMs: wallMs(r), greenAfter: g !== undefined, ...(g ? { toGreenMin: (g.at - r.at) / 60_000 } : {}) })
    }
  }
  // Failed attempts of in-run retries: their time is wasted too.
  const retryWaste = await env.db
    .selectFrom('insight_results')
    .select((eb) => eb.fn.sum<number>(eb('fails', '*', eb.ref('duration_ms'))).as('ms'))
    .where('project', '=', project)
    .where('signature', 'is not', null)
    .where('outcome', '=', 0)
    .where('at', '>=', from)
    .where('at', '<=', to)
    .executeTakeFirst()
  const wastedByRun = new Map<string, number>()
  for (const [id, x] of rerunOf) wastedByRun.set(id, x.wastedMs)
  const minutesWasted = ([...wastedByRun.values()].reduce((a, b) => a + b, 0) + Number(retryWaste?.ms ?? 0)) / 60_000

  // Share of failures that belong to flaky tests (outage runs left out).
  const infraRuns = new Set(runs.filter((r) => r.infra_suspect === 1).map((r) => r.id))
  const failRows = await env.db
    .selectFrom('insight_results')
    .select(['test_id', 'run_id'])
    .where('project', '=', project)
    .where('signature', 'is not', null)
    .where('at', '>=', from)
    .where('at', '<=', to)
    .execute()
  const tests = await env.db.selectFrom('insight_tests').select(['id', 'status']).where('project', '=', project).execute()
  const status = new Map(tests.map((t) => [t.id, t.status]))
  let fails = 0
  let flakyFails = 0
  for (const f of failRows) {
    if (infraRuns.has(f.run_id)) continue
    fails++
    if (status.get(f.test_id) === 'flaky') flakyFails++
  }

  // MTTR of flaky tests: became flaky → recovered, for recoveries in the window.
  const log = await env.db.selectFrom('insight_status_log').select(['test_id', 'at', 'from_status', 'to_status']).where('project', '=', project).orderBy('seq').execute()
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

  const dist = (xs: number[]) => ({ n: xs.length, p50: xs.length ? round(quantile(xs, 0.5)) : null, p95: xs.length ? round(quantile(xs, 0.95)) : null })
  const queue: number[] = []
  const setup: number[] = []
  let costTotal = 0
  let costRuns = 0
  const costByPr = new Map<string, number>()
  const costByPipeline: Record<string, number> = {}
  for (const r of runs) {
    const infra = parseJson<{ queueMs?: number; setupMs?: number; costUsd?: number }>(r.infra)
    if (typeof infra?.queueMs === 'number') queue.push(infra.queueMs)
    if (typeof infra?.setupMs === 'number') setup.push(infra.setupMs)
    if (typeof infra?.costUsd === 'number') {
      costRuns++
      costTotal += infra.costUsd
      if (r.pr) costByPr.set(r.pr, (costByPr.get(r.pr) ?? 0) + infra.costUsd)
      const p = r.pipeline ?? '(none)'
      costByPipeline[p] = round((costByPipeline[p] ?? 0) + infra.costUsd)
    }
  }

  // PR-to-merge from pr_opened / pr_merged events.
  const prEvents = await env.db.selectFrom('insight_events').select(['kind', 'at', 'pr', 'body']).where('project', '=', project).where('kind', 'in', ['pr_opened', 'pr_merged']).execute()
  const opened = new Map<string, number>()
  const merged = new Map<string, number>()
  for (const e of prEvents) {
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

  // Remediations decided in the window.
  const rems = (await env.db.selectFrom('insight_remediations').select(['body']).where('project', '=', project).where('created_at', '>=', from).where('created_at', '<=', to).execute()).map(
    (r) => JSON.parse(r.body) as Remediation,
  )
  const isAuto = (m: Remediation) => m.decidedBy === 'insights' && (m.status === 'applied' || m.status === 'reverted')
  const auto = rems.filter(isAuto)
  const autoAccepted = auto.filter((m) => m.status === 'applied')
  const humanApplied = rems.filter((m) => m.status === 'applied' && m.decidedBy !== 'insights')
  const rejected = rems.filter((m) => m.status === 'rejected')
  const pending = rems.filter((m) => m.status === 'suggested')
  const suggestionsSeen = humanApplied.length + rejected.length + pending.length

  const arm = (name: 'suggest' | 'auto') => {
    const rs = runs.filter((r) => r.arm === name)
    const ids = new Set(rs.map((r) => r.id))
    const ms = rems.filter((m) => m.runId !== undefined && ids.has(m.runId))
    const toGreen = rs.map((r) => rerunOf.get(r.id)?.toGreenMin).filter((x): x is number => x !== undefined)
    return {
      runs: rs.length,
      red: rs.filter(red).length,
      remediations: ms.length,
      applied: ms.filter((m) => m.status === 'applied' || m.status === 'reverted').length,
      accepted: ms.filter((m) => m.status === 'applied').length,
      greenAfterRerun: rs.filter((r) => rerunOf.get(r.id)?.greenAfter).length,
      minutesWasted: round(rs.reduce((a, r) => a + (wastedByRun.get(r.id) ?? 0), 0) / 60_000),
      medianTimeToGreenMin: toGreen.length ? round(quantile(toGreen, 0.5)) : null,
    }
  }

  const quarantined = await env.db.selectFrom('insight_quarantine').select('test_id').where('project', '=', project).where('expires_at', '>', to).execute()
  return {
    window,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    runs: runs.length,
    firstAttemptGreenRate: first.length ? round(first.filter(green).length / first.length) : null,
    rerunRate: runs.length ? round(rerun.length / runs.length) : null,
    flakyFailureShare: fails ? round(flakyFails / fails) : null,
    minutesWasted: round(minutesWasted),
    mttrFlakyHours: repairs.length ? round(repairs.reduce((a, b) => a + b, 0) / repairs.length) : null,
    queueMs: dist(queue),
    setupMs: dist(setup),
    prToMergeHours: dist(prHours),
    remediation: {
      suggested: rems.filter((m) => m.status !== 'refused').length,
      applied: rems.filter((m) => m.status === 'applied').length,
      auto: auto.length,
      autoAccepted: autoAccepted.length,
      autoAcceptedRate: auto.length ? round(autoAccepted.length / auto.length) : null,
      suggestionsAcceptedRate: suggestionsSeen ? round(humanApplied.length / suggestionsSeen) : null,
      refused: rems.filter((m) => m.status === 'refused').length,
    },
    cost: {
      perPrUsd: costByPr.size ? round([...costByPr.values()].reduce((a, b) => a + b, 0) / costByPr.size) : null,
      perPipelineUsd: costByPipeline,
      ...(costRuns === 0 ? { note: 'no metering in this window: runs carry no infra.costUsd' } : {}),
    },
    ab: { suggest: arm('suggest'), auto: arm('auto') },
    tests: {
      flaky: tests.filter((t) => t.status === 'flaky').length,
      broken: tests.filter((t) => t.status === 'broken').length,
      healthy: tests.filter((t) => t.status === 'healthy').length,
      quarantined: quarantined.length,
    },
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
