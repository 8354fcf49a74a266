/** @module actions/workflows/handlers — handlers of the workflow operations: one call into the workflow service each, as the caller. */
import type { WorkflowsOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../../kit/handler-table.js'
import type { WorkflowService } from './service.js'

/** The services the workflow handlers use. */
export interface WorkflowsAreaServices {
  workflows: WorkflowService
}

export const workflowsHandlers: HandlerTable<WorkflowsOpName, WorkflowsAreaServices> = {
  runWorkflow: async (i, ctx, svc) => svc.workflows.run(ctx.principal, i),
  listWorkflowRuns: async (i, ctx, svc) => svc.workflows.list(ctx.principal, i),
  getWorkflowRun: async (i, ctx, svc) => svc.workflows.get(ctx.principal, i.id),
  getWorkflowReport: async (i, ctx, svc) => svc.workflows.report(ctx.principal, i.id, i.format, i.timings),
  replayWorkflowRun: async (i, ctx, svc) => svc.workflows.replay(ctx.principal, i.id),
}
