/** @module webhooks/handlers — handlers of the webhook and approval-link operations, scoped to the caller's project. */
import type { WebhooksOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { ApprovalLinks } from './approval-links.js'
import type { GithubIntegration } from './github/integration.js'
import type { WebhookService } from './service.js'

/** The services the webhooks area's handlers (and its open HTTP routes) use. */
export interface WebhooksAreaServices {
  webhooks: WebhookService
  approvalLinks: ApprovalLinks
  /** Present when webhooks.github.enabled. */
  github?: GithubIntegration | undefined
}

export const webhooksHandlers: HandlerTable<WebhooksOpName, WebhooksAreaServices> = {
  createWebhook: async (i, ctx, svc) => svc.webhooks.create(ctx.principal, i),
  listWebhooks: async (i, ctx, svc) => svc.webhooks.list(ctx.principal, i),
  deleteWebhook: async (i, ctx, svc) => svc.webhooks.delete(ctx.principal, i.id),
  listWebhookDeliveries: async (i, ctx, svc) => svc.webhooks.deliveries(ctx.principal, i),
  createApprovalLink: async (i, ctx, svc) => svc.approvalLinks.create(ctx.principal, i),
}
