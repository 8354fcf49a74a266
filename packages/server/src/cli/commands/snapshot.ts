/** @module cli/commands/snapshot — `tidepool sandbox snapshot|fork|reset`, `tidepool snapshot list|get|delete`. */
import type { SnapshotInfo as Snapshot } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { keyValues, parseDuration, table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
const one = (positionals: string[], what: string): string => {
  const v = positionals[0]
  if (!v) throw new Error(`missing ${what}`)
  return v
}
const labelsOf = (l: Record<string, string>) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-'
const row = (s: Snapshot) => ({
  id: s.id,
  sandbox: s.sandboxId,
  template: s.template,
  size: s.sizeBytes,
  exclusive: s.exclusiveBytes,
  created: s.createdAt,
  expires: s.expiresAt ?? '-',
  labels: labelsOf(s.labels),
})
const columns = ['id', 'sandbox', 'template', 'size', 'exclusive', 'created', 'expires', 'labels']
const describe = (s: Snapshot) =>
  [
    `id:        ${s.id}`,
    `sandbox:   ${s.sandboxId}${s.parent ? ` (which started from ${s.parent})` : ''}`,
    `template:  ${s.template}`,
    `size:      ${s.sizeBytes} bytes (${s.exclusiveBytes} only in this snapshot)`,
    `created:   ${s.createdAt} by ${s.createdBy}`,
    `expires:   ${s.expiresAt ?? 'never (until deleted)'}`,
    `labels:    ${labelsOf(s.labels)}`,
  ].join('\n')

export const snapshotCommands: CliCommand[] = [
  {
    words: ['sandbox', 'snapshot'],
    summary: "Snapshot a sandbox's files and print the snapshot id",
    usage: '<id> [--label K=V]… [--ttl 1h] [--json]',
    options: { ...json, label: { type: 'string', multiple: true }, ttl: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const s = await (
        await api()
      ).createSnapshot({
        id: one(positionals, 'sandbox id'),
        labels: keyValues(v.label, '--label'),
        ...(v.ttl ? { ttlMs: parseDuration(String(v.ttl), '--ttl') } : {}),
      })
      io.print(s, () => s.id)
      return 0
    },
  },
  {
    words: ['sandbox', 'fork'],
    summary: "New sandboxes with exactly a sandbox's files; prints their ids",
    usage: '<id> [--count N] [--meta K=V]… [--json]',
    options: { ...json, count: { type: 'string' }, meta: { type: 'string', multiple: true } },
    async run({ positionals, values: v, api, io }) {
      const metadata = keyValues(v.meta, '--meta')
      const out = await (
        await api()
      ).forkSandbox({
        id: one(positionals, 'sandbox id'),
        ...(v.count ? { count: Number(v.count) } : {}),
        ...(Object.keys(metadata).length ? { metadata } : {}),
      })
      io.print(out, () => out.items.map((s) => s.id).join('\n'))
      return 0
    },
  },
  {
    words: ['sandbox', 'reset'],
    summary: 'Put a sandbox back to its start (or to a snapshot) in place',
    usage: '<id> [--to snap_…] [--json]',
    options: { ...json, to: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const s = await (await api()).resetSandbox({ id: one(positionals, 'sandbox id'), ...(v.to ? { to: String(v.to) } : {}) })
      io.print(s, () => `${s.id} ${s.state} (${s.reason})`)
      return 0
    },
  },
  {
    words: ['snapshot', 'list'],
    summary: 'List snapshots',
    usage: '[--sandbox sbx_…] [--label K=V]… [--limit N] [--next-token T] [--json]',
    options: { ...json, sandbox: { type: 'string' }, label: { type: 'string', multiple: true }, limit: { type: 'string' }, 'next-token': { type: 'string' } },
    async run({ values: v, api, io }) {
      const labels = keyValues(v.label, '--label')
      const page = await (
        await api()
      ).listSnapshots({
        ...(v.sandbox ? { sandboxId: String(v.sandbox) } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
        ...(v.limit ? { limit: Number(v.limit) } : {}),
        ...(v['next-token'] ? { nextToken: String(v['next-token']) } : {}),
      })
      io.print(page, () => table(page.items.map(row), columns) + (page.nextToken ? `\n(more: --next-token ${page.nextToken})` : ''))
      return 0
    },
  },
  {
    words: ['snapshot', 'get'],
    summary: 'Show one snapshot',
    usage: '<id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const s = await (await api()).getSnapshot({ id: one(positionals, 'snapshot id') })
      io.print(s, () => describe(s))
      return 0
    },
  },
  {
    words: ['snapshot', 'delete'],
    summary: 'Delete snapshots (idempotent; refused while a live sandbox started from one)',
    usage: '<id>… [--json]',
    options: json,
    async run({ positionals, api, io }) {
      if (positionals.length === 0) throw new Error('missing snapshot id')
      const client = await api()
      for (const id of positionals) await client.deleteSnapshot({ id })
      io.print({ deleted: positionals }, () => positionals.map((id) => `deleted ${id}`).join('\n'))
      return 0
    },
  },
]
