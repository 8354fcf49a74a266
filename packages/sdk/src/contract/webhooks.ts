/** @module contract/webhooks — outgoing webhooks (signed, retried, logged) and signed approval links for remediations. */
import { z } from 'zod'
import { limits, PageInput, page, Timestamp } from './common.js'
import type { Operation } from './operation.js'

const tags = ['webhooks']

/** What a subscription can receive. */
export const webhookEvents = ['triage.summary', 'remediation.proposed', 'remediation.approved', 'remediation.rejected'] as const
export const WebhookEvent = z
  .enum(webhookEvents)
  .describe(
    'triage.summary: a run was finished and triaged; remediation.proposed: a remediation waits for a decision; remediation.approved: one was applied (by a person or automatically); remediation.rejected: one was rejected or reverted.',
  )
export type WebhookEvent = z.infer<typeof WebhookEvent>

/** An http(s) URL without credentials; the server may refuse it by its allow-list (config webhooks.allowedUrls). */
export const WebhookUrl = z
  .string()
  .min(1)
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s)
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.hostname !== ''
    } catch {
      return false
    }
  }, 'url must be an http:// or https:// URL without credentials')
  .describe('Where deliveries are POSTed (http or https, no credentials in the URL).')

export const CreateWebhookInput = z
  .object({
    url: WebhookUrl,
    events: z
      .array(WebhookEvent)
      .min(1)
      .max(webhookEvents.length)
      .refine((l) => new Set(l).size === l.length, 'events must not repeat')
      .describe('The events this subscription receives.'),
    description: z.string().max(limits.label).optional().describe('A label for people.'),
  })
  .strict()
  .meta({ id: 'CreateWebhookInput' })

export const Webhook = z
  .object({
    id: z.string().describe('Webhook id (whk_…).'),
    project: z.string(),
    url: z.string(),
    events: z.array(WebhookEvent),
    description: z.string().optional(),
    createdAt: Timestamp,
    createdBy: z.string().describe('Token id that created it.'),
  })
  .meta({ id: 'Webhook' })
export type Webhook = z.infer<typeof Webhook>

export const CreatedWebhook = Webhook.extend({
  secret: z.string().describe('The signing secret (whsec_…): shown only once. Verify X-Tidepool-Signature with it (README, Webhooks).'),
}).meta({ id: 'CreatedWebhook' })
export type CreatedWebhook = z.infer<typeof CreatedWebhook>

/** Ids tidepool generates: a prefix, then lowercase letters and digits (anything else cannot name one). */
export const WebhookId = z
  .string()
  .max(limits.id)
  .regex(/^whk_[a-z0-9]+$/, 'webhook ids are whk_ followed by lowercase letters and digits')
  .describe('Webhook id (whk_…).')
export const RemediationRefId = z
  .string()
  .max(limits.id)
  .regex(/^rem_[a-z0-9]+$/, 'remediation ids are rem_ followed by lowercase letters and digits')
  .describe('Remediation id (rem_…).')

export const WebhookRef = z.object({ id: WebhookId }).strict()
export const WebhookPage = page(Webhook)
export const ListWebhooksInput = z.object({ ...PageInput }).strict()

export const DeliveryAttempt = z
  .object({
    attempt: z.number().int().describe('1 for the first try.'),
    at: Timestamp,
    statusCode: z.number().int().optional().describe('The HTTP status the receiver answered; absent when no answer came (error says why).'),
    error: z.string().optional().describe('Why the attempt failed (connection refused, timeout, non-2xx status).'),
    durationMs: z.number().describe('Time to the answer (or to the failure).'),
  })
  .meta({ id: 'DeliveryAttempt' })

export const WebhookDelivery = z
  .object({
    id: z.string().describe('Delivery id (dlv_…): the X-Tidepool-Delivery header; the same on every retry.'),
    webhookId: z.string(),
    event: WebhookEvent,
    status: z.enum(['pending', 'delivered', 'failed']).describe('pending: will be tried (again) at nextAttemptAt; delivered: a 2xx came back; failed: attempts ran out.'),
    attempts: z.number().int(),
    statusCode: z.number().int().optional().describe('Status of the last attempt.'),
    error: z.string().optional().describe('Error of the last attempt.'),
    nextAttemptAt: Timestamp.optional(),
    createdAt: Timestamp,
    log: z.array(DeliveryAttempt).describe('Every attempt, oldest first.'),
  })
  .meta({ id: 'WebhookDelivery' })
export type WebhookDelivery = z.infer<typeof WebhookDelivery>

export const ListDeliveriesInput = z
  .object({
    id: WebhookId,
    status: z.enum(['pending', 'delivered', 'failed']).optional(),
    ...PageInput,
  })
  .strict()
export const DeliveryPage = page(WebhookDelivery)

export const CreateApprovalLinkInput = z
  .object({
    remediationId: RemediationRefId.describe('The remediation the link decides (an unknown one is refused when the link is used: not_found).'),
    decision: z.enum(['approve', 'reject']),
    ttlSeconds: z.number().int().min(60).max(2_592_000).default(86_400).describe('How long the link works (default one day).'),
  })
  .strict()
  .meta({ id: 'CreateApprovalLinkInput' })

export const ApprovalLink = z
  .object({
    url: z.string().describe('Open it to confirm; the confirmation applies the decision as the caller that made the link (its scopes, the policy and the audit apply then).'),
    expiresAt: Timestamp,
  })
  .meta({ id: 'ApprovalLink' })

export const webhooksOps = {
  createWebhook: {
    method: 'POST',
    path: '/v1/webhooks',
    summary: 'Subscribe a URL to events of the project (the signing secret is shown once)',
    scope: 'insights:write',
    input: CreateWebhookInput,
    output: CreatedWebhook,
    status: 201,
    tags,
  },
  listWebhooks: { method: 'GET', path: '/v1/webhooks', summary: 'Webhook subscriptions of the project', scope: 'insights:read', input: ListWebhooksInput, output: WebhookPage, tags },
  deleteWebhook: {
    method: 'DELETE',
    path: '/v1/webhooks/{id}',
    summary: 'Remove a subscription and its pending deliveries (idempotent)',
    scope: 'insights:write',
    input: WebhookRef,
    output: 'empty',
    status: 204,
    tags,
  },
  listWebhookDeliveries: {
    method: 'GET',
    path: '/v1/webhooks/{id}/deliveries',
    summary: 'The delivery log of a subscription, newest first',
    scope: 'insights:read',
    input: ListDeliveriesInput,
    output: DeliveryPage,
    tags,
  },
  createApprovalLink: {
    method: 'POST',
    path: '/v1/insights/remediations/{remediationId}/links',
    summary: 'A signed, expiring link that approves or rejects a remediation as the caller',
    scope: 'insights:write',
    input: CreateApprovalLinkInput,
    output: ApprovalLink,
    status: 201,
    tags,
  },
} as const satisfies Record<string, Operation>
