/** @module cli/commands/webhook — `tidepool webhook add|ls|rm|deliveries`: outgoing webhook subscriptions and their delivery log. */
import type { WebhookEvent } from '@tidepool/sdk'
import { webhookEvents } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
const paging = { limit: { type: 'string' }, 'next-token': { type: 'string' } } as const
const pageArgs = (v: Record<string, unknown>) => ({ ...(v.limit ? { limit: Number(v.limit) } : {}), ...(v['next-token'] ? { nextToken: String(v['next-token']) } : {}) })
const more = (next: string | undefined) => (next ? [`more: --next-token ${next}`] : [])

export const webhookCommands: CliCommand[] = [
  {
    words: ['webhook', 'add'],
    summary: `Subscribe a URL to events (${webhookEvents.join(', ')}); prints the signing secret once`,
    usage: '<url> [--event E]… [--description TEXT] [--json]',
    options: { ...json, event: { type: 'string', multiple: true }, description: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const url = positionals[0]
      if (!url) throw new Error('usage: tidepool webhook add <url> [--event triage.summary]… (every event when none is given)')
      const events = ((v.event as string[] | undefined) ?? [...webhookEvents]).map(String) as WebhookEvent[]
      const h = await (await api()).createWebhook({ url, events, ...(v.description ? { description: String(v.description) } : {}) })
      io.print(h, () => `${h.id} → ${h.url} (${h.events.join(', ')})\nsecret: ${h.secret}\n(shown only once: verify X-Tidepool-Signature with it)`)
      return 0
    },
  },
  {
    words: ['webhook', 'ls'],
    summary: 'List the webhook subscriptions of your project',
    usage: '[--limit N] [--next-token T] [--json]',
    options: { ...json, ...paging },
    async run({ values: v, api, io }) {
      const page = await (await api()).listWebhooks(pageArgs(v))
      io.print(page, () =>
        [
          table(
            page.items.map((h) => ({ ...h, events: h.events.join(',') })),
            ['id', 'url', 'events', 'createdAt'],
          ),
          ...more(page.nextToken),
        ].join('\n'),
      )
      return 0
    },
  },
  {
    words: ['webhook', 'rm'],
    summary: 'Remove a subscription and its pending deliveries (idempotent)',
    usage: '<webhook-id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const id = positionals[0]
      if (!id) throw new Error('usage: tidepool webhook rm <webhook-id>')
      await (await api()).deleteWebhook({ id })
      io.print({ removed: id }, () => `removed ${id}`)
      return 0
    },
  },
  {
    words: ['webhook', 'deliveries'],
    summary: 'The delivery log of a subscription, newest first (status, attempts, last status code and error)',
    usage: '<webhook-id> [--status pending|delivered|failed] [--limit N] [--next-token T] [--json]',
    options: { ...json, ...paging, status: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const id = positionals[0]
      if (!id) throw new Error('usage: tidepool webhook deliveries <webhook-id>')
      const status = v.status ? (String(v.status) as 'pending' | 'delivered' | 'failed') : undefined
      const page = await (await api()).listWebhookDeliveries({ id, ...(status ? { status } : {}), ...pageArgs(v) })
      io.print(page, () =>
        [
          table(
            page.items.map((d) => ({ ...d, statusCode: d.statusCode ?? '', error: d.error ?? '', nextAttemptAt: d.nextAttemptAt ?? '' })),
            ['id', 'event', 'status', 'attempts', 'statusCode', 'error', 'nextAttemptAt'],
          ),
          ...more(page.nextToken),
        ].join('\n'),
      )
      return 0
    },
  },
]
