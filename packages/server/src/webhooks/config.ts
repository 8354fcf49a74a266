/** @module webhooks/config — configuration keys of outgoing webhooks and the GitHub adapter (every key has a default). */
import { z } from 'zod'

const Github = z
  .object({
    enabled: z.boolean().default(false).describe('Post a PR comment and a check run for triaged runs that have a GitHub repository and PR, and accept GitHub webhooks at /v1/github/webhook.'),
    apiUrl: z.string().url().default('https://api.github.com').describe('GitHub REST API base URL; for GitHub Enterprise Server https://<host>/api/v3.'),
    tokenEnv: z.string().default('GITHUB_TOKEN').describe('Name of the environment variable holding the GitHub token (the token itself is never in the config nor logged).'),
    webhookSecretEnv: z.string().default('TIDEPOOL_GITHUB_WEBHOOK_SECRET').describe('Name of the environment variable holding the secret GitHub signs its webhooks with (X-Hub-Signature-256).'),
    runsAs: z.string().max(64).optional().describe('Token id (tok_…) incoming workflow_run/check_suite payloads create runs as: its project and scopes (runs:write) apply.'),
    approver: z.string().max(64).optional().describe('Token id the approve/reject links in PR comments act as (insights:write); without it the comment carries no links.'),
    linkTtlSeconds: z.number().int().min(60).max(2_592_000).default(86_400).describe('How long a link in a PR comment works.'),
    checkName: z.string().min(1).max(100).default('tidepool').describe('Name of the check run.'),
    timeoutMs: z.number().int().min(100).default(10_000).describe('One GitHub API call waits this long at most.'),
  })
  .strict()

export const WebhooksConfig = z
  .object({
    allowedUrls: z
      .array(z.string().min(1).max(2048))
      .max(256)
      .default([])
      .describe(
        'URL prefixes a subscription may deliver to (e.g. https://hooks.example.com/); empty: any http(s) URL. Deliveries go out from the server, so on a network with internal services set this (SSRF).',
      ),
    maxAttempts: z.number().int().min(1).max(50).default(8).describe('Attempts per delivery before it is marked failed.'),
    backoffBaseMs: z.number().int().min(1).default(1000).describe('Delay before the 2nd attempt; doubled per attempt, with full jitter.'),
    backoffMaxMs: z.number().int().min(1).default(600_000).describe('Longest delay between two attempts.'),
    timeoutMs: z.number().int().min(100).default(10_000).describe('One attempt waits this long for an answer.'),
    pollMs: z.number().int().min(10).default(1000).describe('How often due deliveries are looked for (new events are sent at once).'),
    publicUrl: z.string().url().optional().describe('Base URL people reach this server at, for approval links (default http://<host>:<port>).'),
    github: Github.prefault({}),
  })
  .strict()
export type WebhooksConfig = z.infer<typeof WebhooksConfig>
