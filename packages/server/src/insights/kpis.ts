/** @module insights/kpis — feedback-loop KPIs over a window, with the suggest/auto A/B comparison: the reads here, the figures in kpi-figures.ts. */
import type { Kpis, Remediation } from '@tidepool/sdk'
import type { InsightsEnv } from './deps.js'
import { abArm, dist, flakyFailureShare, flakyRepairHours, isGreen, prToMergeHours, remediationFigures, rerunsOf, round, runFigures, unitMs } from './kpi-figures.js'

export function windowMs(window: string): number {
  const m = /^(\d{1,4})([hdw])$/.exec(window)
  if (!m) return 7 * unitMs.d
  return Number(m[1]) * unitMs[m[2] as keyof typeof unitMs]
}

export async function computeKpis(env: InsightsEnv, project: string, window: string): Promise<Kpis> {
  const to = env.clock.now()
  const from = to - windowMs(window)
  const runs = await env.db.selectFrom('insight_runs').selectAll().where('project', '=', project).where('at', '>=', from).where('at', '<=', to).orderBy('at').execute()
  const first = runs.filter((r) => r.attempt === 1)
  const rerun = runs.filter((r) => r.attempt > 1 || r.flaky > 0)
  const rerunOf = rerunsOf(runs)
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
  const minutesWasted = ([...rerunOf.values()].reduce((a, x) => a + x.wastedMs, 0) + Number(retryWaste?.ms ?? 0)) / 60_000

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
  const statusLog = await env.db.selectFrom('insight_status_log').select(['test_id', 'at', 'from_status', 'to_status']).where('project', '=', project).orderBy('seq').execute()
  const repairs = flakyRepairHours(statusLog, from, to)
  const { queue, setup, cost } = runFigures(runs)
  const prEvents = await env.db.selectFrom('insight_events').select(['kind', 'at', 'pr', 'body']).where('project', '=', project).where('kind', 'in', ['pr_opened', 'pr_merged']).execute()
  // Remediations decided in the window.
  const rems = (await env.db.selectFrom('insight_remediations').select(['body']).where('project', '=', project).where('created_at', '>=', from).where('created_at', '<=', to).execute()).map(
    (r) => JSON.parse(r.body) as Remediation,
  )
  const quarantined = await env.db.selectFrom('insight_quarantine').select('test_id').where('project', '=', project).where('expires_at', '>', to).execute()
  return {
    window,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    runs: runs.length,
    firstAttemptGreenRate: first.length ? round(first.filter(isGreen).length / first.length) : null,
    rerunRate: runs.length ? round(rerun.length / runs.length) : null,
    flakyFailureShare: flakyFailureShare(failRows, infraRuns, new Map(tests.map((t) => [t.id, t.status]))),
    minutesWasted: round(minutesWasted),
    mttrFlakyHours: repairs.length ? round(repairs.reduce((a, b) => a + b, 0) / repairs.length) : null,
    queueMs: dist(queue),
    setupMs: dist(setup),
    prToMergeHours: dist(prToMergeHours(prEvents, from, to)),
    remediation: remediationFigures(rems),
    cost,
    ab: { suggest: abArm('suggest', runs, rems, rerunOf), auto: abArm('auto', runs, rems, rerunOf) },
    tests: {
      flaky: tests.filter((t) => t.status === 'flaky').length,
      broken: tests.filter((t) => t.status === 'broken').length,
      healthy: tests.filter((t) => t.status === 'healthy').length,
      quarantined: quarantined.length,
    },
  }
}
