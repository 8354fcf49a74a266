/** @module insights/handlers — handlers of the insights operations: each is one call into the insights service, scoped to the caller's project. */
import type { InsightsOpName } from '@tidepool/sdk'
import type { Ctx } from '../kit/context.js'
import type { HandlerTable } from '../kit/handler-table.js'
import type { InsightsService } from './service.js'

/** The services the insights area's handlers use. */
export interface InsightsAreaServices {
  insights: InsightsService
}

const actorOf = (ctx: Ctx) => `${ctx.principal.tokenId} (${ctx.principal.name})`

export const insightsHandlers: HandlerTable<InsightsOpName, InsightsAreaServices> = {
  createRun: (i, ctx, svc) => svc.insights.createRun(ctx.principal.project, i),
  listRuns: (i, ctx, svc) => svc.insights.listRuns(ctx.principal.project, i),
  getRun: (i, ctx, svc) => svc.insights.getRun(ctx.principal.project, i.id),
  ingestJunit: (i, ctx, svc) => svc.insights.ingestJunit(ctx.principal.project, i.id, i.body, { name: i.name, framework: i.framework, root: i.root }),
  ingestRunEvents: (i, ctx, svc) => svc.insights.ingestEvents(ctx.principal.project, i.id, i.events),
  finishRun: (i, ctx, svc) => svc.insights.finishRun(ctx.principal.project, i.id, { finishedAt: i.finishedAt, infra: i.infra }),
  listInsightTests: (i, ctx, svc) => svc.insights.listTests(ctx.principal.project, i),
  getTestHistory: (i, ctx, svc) => svc.insights.testHistory(ctx.principal.project, i),
  getRunTriage: (i, ctx, svc) => svc.insights.triage(ctx.principal.project, i.id, { llm: i.llm === undefined ? undefined : i.llm === 'true' || i.llm === '1' }),
  listAnomalies: (i, ctx, svc) => svc.insights.listAnomalies(ctx.principal.project, i),
  listSignatures: (i, ctx, svc) => svc.insights.listSignatures(ctx.principal.project, i),
  listClusters: (_i, ctx, svc) => svc.insights.listClusters(ctx.principal.project),
  getKpis: (i, ctx, svc) => svc.insights.kpis(ctx.principal.project, i.window),
  listRemediations: (i, ctx, svc) => svc.insights.listRemediations(ctx.principal.project, i),
  listRerunRequests: (i, ctx, svc) => svc.insights.listRerunRequests(ctx.principal.project, i),
  applyRemediation: (i, ctx, svc) => svc.insights.applyRemediation(ctx.principal.project, i.id, actorOf(ctx), i.note),
  rejectRemediation: (i, ctx, svc) => svc.insights.rejectRemediation(ctx.principal.project, i.id, actorOf(ctx), i.note),
  getInsightsSettings: (_i, ctx, svc) => svc.insights.getSettings(ctx.principal.project),
  putInsightsSettings: (i, ctx, svc) => svc.insights.putSettings(ctx.principal.project, i),
  analyzeInsights: (i, ctx, svc) => svc.insights.analyze(ctx.principal.project, { full: i.full }),
}
