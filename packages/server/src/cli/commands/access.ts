/** @module cli/commands/access — `tidepool token …`, `audit ls`, `audit graph`. */
import type { Scope } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { table } from '../io.js'

const json = { json: { type: 'boolean' } } as const

export const accessCommands: CliCommand[] = [
  {
    words: ['token', 'create'],
    summary: 'Create a project-scoped token (needs an admin token); prints the secret once',
    usage: '--project P --scope S [--scope S]… [--name N] [--ttl SECONDS] [--json]',
    options: { ...json, project: { type: 'string' }, scope: { type: 'string', multiple: true }, name: { type: 'string' }, ttl: { type: 'string' } },
    async run({ values: v, api, io }) {
      if (!v.project || !v.scope) throw new Error('usage: tidepool token create --project P --scope sandboxes:write [--scope …]')
      const t = await (
        await api()
      ).createToken({
        project: String(v.project),
        scopes: (v.scope as string[]).map(String) as Scope[],
        ...(v.name ? { name: String(v.name) } : {}),
        ...(v.ttl ? { ttlSeconds: Number(v.ttl) } : {}),
      })
      io.print(t, () => `${t.token}\n(token ${t.id} for project ${t.project}: ${t.scopes.join(', ')}; shown only once)`)
      return 0
    },
  },
  {
    words: ['token', 'ls'],
    summary: 'List tokens (admin)',
    usage: '[--json]',
    options: json,
    async run({ api, io }) {
      const page = await (await api()).listTokens({})
      io.print(page, () =>
        table(
          page.items.map((t) => ({ ...t, scopes: t.scopes.join(',') })),
          ['id', 'name', 'project', 'scopes', 'createdAt', 'expiresAt'],
        ),
      )
      return 0
    },
  },
  {
    words: ['token', 'rm'],
    summary: 'Revoke a token (admin, idempotent)',
    usage: '<token-id>',
    options: json,
    async run({ positionals, api, io }) {
      const id = positionals[0]
      if (!id) throw new Error('missing token id')
      await (await api()).revokeToken({ id })
      io.print({ revoked: id }, () => `revoked ${id}`)
      return 0
    },
  },
  {
    words: ['audit', 'ls'],
    summary: 'Audit records (your project; all projects for admins)',
    usage: '[--target ID] [--action OP] [--run RUN] [--limit N] [--json]',
    options: { ...json, target: { type: 'string' }, action: { type: 'string' }, run: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (
        await api()
      ).listAudit({
        ...(v.target ? { target: String(v.target) } : {}),
        ...(v.action ? { action: String(v.action) } : {}),
        ...(v.run ? { run: String(v.run) } : {}),
        ...(v.limit ? { limit: Number(v.limit) } : {}),
      })
      io.print(page, () =>
        table(
          page.items.map((r) => ({ ...r, hash: r.hash.slice(0, 12) })),
          ['seq', 'at', 'actor', 'action', 'target', 'outcome', 'hash'],
        ),
      )
      return 0
    },
  },
  {
    words: ['audit', 'graph'],
    summary: "An agent run's decision graph (prompt → model → action → result) as Mermaid, or everything with --json",
    usage: '<run-id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const run = positionals[0]
      if (!run) throw new Error('usage: tidepool audit graph <run-id> [--json] (the runId agents send in x-tidepool-meta or MCP _meta)')
      const g = await (await api()).auditGraph({ run })
      io.print(g, () => {
        const more = g.truncated ? `\n%% truncated: the run has more than ${g.records} records` : ''
        return g.records === 0 ? `no audit records for run ${run}` : `${g.mermaid}${more}`
      })
      return 0
    },
  },
]
