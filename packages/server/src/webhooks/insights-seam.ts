/**
 * @module webhooks/insights-seam — publishes the feedback loop's decisions as webhook events by wrapping
 * the few insights calls that make them (main.ts wraps the insights service; insights knows nothing of it).
 *
 * The events are queued (in the store) before the call returns, so an acknowledged finish or decision
 * is never lost for its subscribers; a failure to queue is logged and does not undo the call.
 */
import type { FinishRunInput, FinishRunResult, Remediation, Triage } from '@tidepool/sdk'
import type { z } from 'zod'
import type { Logger } from '../core/log.js'
import type { RemediationData, TriageSummaryData } from './events.js'
import type { WebhookService } from './service.js'

/** The part of the insights service this wraps. */
export interface DecidingInsights {
  finishRun(project: string, runId: string, input?: Omit<z.output<typeof FinishRunInput>, 'id'>): Promise<FinishRunResult>
  applyRemediation(project: string, id: string, actor: string, note?: string): Promise<Remediation>
  rejectRemediation(project: string, id: string, actor: string, note?: string): Promise<Remediation>
  triage(project: string, runId: string, opts?: { llm?: boolean | undefined }): Promise<Triage>
}

export function publishingInsights<T extends DecidingInsights>(insights: T, hooks: WebhookService, log: Logger): T {
  const safely = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn()
    } catch (err) {
      log.error({ err, what }, 'webhooks: queueing an event failed')
    }
  }
  const decided = (project: string, r: Remediation) => {
    const event =
      r.status === 'applied' ? 'remediation.approved' : r.status === 'rejected' || r.status === 'reverted' ? 'remediation.rejected' : r.status === 'suggested' ? 'remediation.proposed' : undefined
    if (!event) return Promise.resolve()
    const data: RemediationData = { remediation: r }
    return safely(event, () => hooks.publish({ project, event, data: { ...data } }))
  }
  const wrapped: DecidingInsights = {
    finishRun: async (project, runId, input) => {
      const res = await insights.finishRun(project, runId, input)
      if (await hooks.wants(project, 'triage.summary').catch(() => false)) {
        await safely('triage.summary', async () => {
          const t = await insights.triage(project, runId)
          const data: TriageSummaryData = { run: t.run, verdict: t.verdict, markdown: t.markdown, failures: t.failures.length, remediations: t.remediations }
          await hooks.publish({ project, event: 'triage.summary', data: { ...data } })
        })
      }
      for (const r of res.remediations) await decided(project, r)
      return res
    },
    applyRemediation: async (project, id, actor, note) => {
      const r = await insights.applyRemediation(project, id, actor, note)
      await decided(project, r)
      return r
    },
    rejectRemediation: async (project, id, actor, note) => {
      const r = await insights.rejectRemediation(project, id, actor, note)
      await decided(project, r)
      return r
    },
    triage: (project, runId, opts) => insights.triage(project, runId, opts),
  }
  return { ...insights, ...wrapped }
}
