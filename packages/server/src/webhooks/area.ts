/** @module webhooks/area — builds the webhooks area (subscriptions and their queue, approval links, the GitHub adapter) for main.ts. */
import { join } from 'node:path'
import type { Remediation } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Db } from '../store/opened-store.js'
import { ApprovalLinks } from './approval-links.js'
import { WebhooksConfig } from './config.js'
import type { TriageSummaryData } from './events.js'
import { GithubAdapter } from './github/adapter.js'
import { type GithubFetch, GithubClient } from './github/client.js'
import type { GithubIntegration } from './github/integration.js'
import { LinkSigner, loadOrCreateLinkKey } from './links.js'
import { type FetchLike, WebhookService } from './service.js'

export interface WebhooksAreaDeps {
  db: Db
  clock: Clock
  log: Logger
  home: string
  cfg: WebhooksConfig | undefined
  /** The GitHub token and incoming-webhook secret (main.ts reads them from the env vars the config names). */
  githubToken?: string | undefined
  githubWebhookSecret?: string | undefined
  /** Where the server is reached when webhooks.publicUrl is not set. */
  listenUrl: () => string
  fetch?: FetchLike
  githubFetch?: GithubFetch
}

export interface WebhooksArea {
  webhooks: WebhookService
  approvalLinks: ApprovalLinks
  github: GithubIntegration | undefined
}

export function createWebhooksArea(d: WebhooksAreaDeps): WebhooksArea {
  const cfg = WebhooksConfig.parse(d.cfg ?? {})
  const log = d.log.child({ area: 'webhooks' })
  const webhooks = new WebhookService({ db: d.db, clock: d.clock, log, cfg, ...(d.fetch ? { fetch: d.fetch } : {}) })
  const approvalLinks = new ApprovalLinks(new LinkSigner(loadOrCreateLinkKey(join(d.home, 'webhooks', 'link.key'))), d.clock, () => cfg.publicUrl ?? d.listenUrl())
  let github: GithubIntegration | undefined
  if (cfg.github.enabled) {
    if (!d.githubToken) log.warn({ tokenEnv: cfg.github.tokenEnv }, 'github: enabled but the token variable is empty; PR comments and check runs are off')
    const client = new GithubClient({ apiUrl: cfg.github.apiUrl, token: d.githubToken ?? '', timeoutMs: cfg.github.timeoutMs, ...(d.githubFetch ? { fetch: d.githubFetch } : {}) })
    const approver = cfg.github.approver
    const adapter = new GithubAdapter({
      db: d.db,
      clock: d.clock,
      log,
      cfg: cfg.github,
      client,
      // Links act as the configured approver, and only for remediations of the approver's project (checked again on use).
      link: (r: Remediation, decision) =>
        approver ? approvalLinks.create({ project: r.project, tokenId: approver }, { remediationId: r.id, decision, ttlSeconds: cfg.github.linkTtlSeconds }).url : undefined,
    })
    if (d.githubToken) webhooks.onEvent((e) => e.event === 'triage.summary' && adapter.onTriage(e.project, e.data as unknown as TriageSummaryData))
    github = { adapter, webhookSecret: d.githubWebhookSecret, runsAs: cfg.github.runsAs }
  }
  return { webhooks, approvalLinks, github }
}
