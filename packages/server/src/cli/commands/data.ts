/** @module cli/commands/data — `tidepool data …`: sources, mirrors (with progress on stderr), clones, snapshots, resets. */
import type { Api, Clone, MaskingReport, MaskKind, Mirror, OpInput } from '@tidepool/sdk'
import type { CliCommand, CliContext } from '../command.js'
import { parseDuration, table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
const maskKinds = ['email', 'name', 'first_name', 'last_name', 'phone', 'hash', 'null', 'redact', 'keep']

function one(positionals: string[], what: string): string {
  const v = positionals[0]
  if (!v) throw new Error(`missing ${what}`)
  return v
}

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)])
const seconds = (s: string, flag: string) => Math.round(parseDuration(/^\d+$/.test(s) ? `${s}s` : s, flag) / 1000)
const mb = (b: number) => `${(b / 1_048_576).toFixed(1)} MB`

/** `--mask col=rule` → masking rules (rule names checked here, columns by the server). */
function maskRules(v: unknown): { column: string; rule: MaskKind }[] {
  return list(v).map((item) => {
    const eq = item.lastIndexOf('=')
    const rule = item.slice(eq + 1)
    if (eq <= 0 || !maskKinds.includes(rule)) throw new Error(`--mask takes COLUMN=RULE with RULE one of ${maskKinds.join(', ')} (got ${JSON.stringify(item)})`)
    return { column: item.slice(0, eq), rule: rule as MaskKind }
  })
}

/** `--table orders=5%` or `--table events=1000` or `--table audit=skip` → per-table sample overrides. */
function perTable(v: unknown): Record<string, { percent?: number; maxRows?: number; skip?: boolean }> {
  const out: Record<string, { percent?: number; maxRows?: number; skip?: boolean }> = {}
  for (const item of list(v)) {
    const m = /^([^=]+)=(?:(\d+(?:\.\d+)?)%|(\d+)|(skip))$/.exec(item)
    if (!m) throw new Error(`--table takes TABLE=PERCENT% , TABLE=MAXROWS or TABLE=skip (got ${JSON.stringify(item)})`)
    out[m[1]!] = m[2] ? { percent: Number(m[2]) } : m[3] ? { maxRows: Number(m[3]) } : { skip: true }
  }
  return out
}

/** A source given by id or by name. */
async function sourceId(api: Api, ref: string): Promise<string> {
  if (/^dsrc_/.test(ref)) return ref
  const page = await api.listDataSources({ limit: 1000 })
  const s = page.items.find((x) => x.name === ref)
  if (!s) throw Object.assign(new Error(`data source ${ref} not found; list them with tidepool data source ls`), { code: 'not_found' })
  return s.id
}

const progressLine = (m: Mirror) =>
  m.progress ? `${m.progress.phase}${m.progress.table ? ` ${m.progress.table}` : ''} — tables ${m.progress.tablesDone}/${m.progress.tables}, rows ${m.progress.rows}` : m.state

/** Waits for a mirror build, printing progress to stderr; throws the build's error. */
async function follow(api: Api, io: CliContext['io'], m: Mirror): Promise<Mirror> {
  let last = ''
  for (;;) {
    if (!m.refreshing) break
    const line = progressLine(m)
    if (line !== last) io.info(`  ${line}`)
    last = line
    await new Promise((r) => setTimeout(r, 400))
    m = await api.getMirror({ id: m.id })
  }
  // A successful build clears the error; one still set says this build failed.
  if (m.error) throw Object.assign(new Error(m.error.message), { code: m.error.code })
  return m
}

function reportText(m: Mirror): string {
  const r = m.report
  if (!r) return `${m.id} ${m.state}`
  const rows = r.tables.map((t) => ({
    table: t.table,
    source: t.sourceRows,
    rows: t.rows,
    sampled: t.sampled,
    'for keys': t.addedForKeys,
    masked: t.masked.map((x) => `${x.column}:${x.rule}`).join(' '),
  }))
  return [
    `mirror ${m.id} (${m.name}) ready: ${r.rows} rows, ${mb(r.bytes)}, ${(r.durationMs / 1000).toFixed(1)} s, ${r.rowsPerSecond} rows/s, PostgreSQL ${r.pgVersion}`,
    table(rows, ['table', 'source', 'rows', 'sampled', 'for keys', 'masked']),
    ...(r.masking ? [maskingText(r.masking, false)] : []),
    ...r.warnings.map((w) => `warning: ${w}`),
  ].join('\n')
}

const foundText = (f: MaskingReport['found']) =>
  Object.entries(f)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')

/** Per column: masked by name (rule), by content (what was found), or left as is (why). */
function maskingText(r: MaskingReport, all: boolean): string {
  const rows = r.tables.flatMap((t) =>
    t.columns
      .filter((c) => all || c.masking !== 'none')
      .map((c) => ({
        column: `${t.table}.${c.column}`,
        masking: c.masking === 'none' ? 'as is' : `by ${c.masking}`,
        how: c.masking === 'name' ? c.rule : c.found ? foundText(c.found) : undefined,
        values: c.scanned === undefined ? undefined : `${c.masked ?? 0}/${c.scanned}`,
        why: c.reason,
      })),
  )
  const total = foundText(r.found)
  return [
    `${r.dryRun ? 'masking plan (dry run, nothing built)' : 'masking'}: content scanning ${r.content ? 'on' : 'off'}; found by content: ${total || 'nothing'}; ${r.namesLearned} names learned from ${r.nameColumns.join(', ') || 'no name column'}`,
    table(rows, ['column', 'masking', 'how', 'values', 'why']),
    ...r.warnings.map((w) => `warning: ${w}`),
  ].join('\n')
}

const cloneText = (c: Clone) =>
  [
    `id:        ${c.id} (${c.strategy}, ${c.state})`,
    `url:       ${c.url}`,
    `socket:    ${c.socketDir} (port ${c.port})`,
    `expires:   ${c.expiresAt}`,
    ...(c.sandbox ? [`sandbox:   ${c.sandbox} (DATABASE_URL set there)`] : []),
    ...(c.snapshots.length ? [`snapshots: ${c.snapshots.map((s) => `${s.id}${s.label ? ` (${s.label})` : ''}`).join(', ')}`] : []),
  ].join('\n')

export const dataCommands: CliCommand[] = [
  {
    words: ['data', 'source', 'add'],
    summary: 'Register a source PostgreSQL database (read-only use; checked now)',
    usage: '<postgresql://user:password@host:5432/db> [--name N] [--json]',
    options: { ...json, name: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const s = await (await api()).createDataSource({ url: one(positionals, 'source URL'), ...(v.name ? { name: String(v.name) } : {}) })
      io.print(s, () => `${s.id} ${s.name}: ${s.url} (PostgreSQL ${s.serverVersion}, ${s.tables} tables)`)
      return 0
    },
  },
  {
    words: ['data', 'source', 'ls'],
    summary: 'List data sources',
    usage: '[--json]',
    options: json,
    async run({ api, io }) {
      const page = await (await api()).listDataSources({ limit: 1000 })
      io.print(page, () =>
        table(
          page.items.map((s) => ({ id: s.id, name: s.name, url: s.url, version: s.serverVersion, tables: s.tables })),
          ['id', 'name', 'url', 'version', 'tables'],
        ),
      )
      return 0
    },
  },
  {
    words: ['data', 'source', 'rm'],
    summary: 'Forget a data source (delete its mirrors first)',
    usage: '<source id|name> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const client = await api()
      const id = await sourceId(client, one(positionals, 'source'))
      await client.deleteDataSource({ id })
      io.print({ deleted: id }, () => `removed ${id}`)
      return 0
    },
  },
  {
    words: ['data', 'mirror'],
    summary: 'Build (or refresh) a mirror of a source: schema, FK-consistent sample, masked; progress on stderr. --dry-run: only report what would be masked',
    usage:
      '<source id|name> [--name N] [--percent 10] [--max-rows N] [--table T=5%|T=1000|T=skip]… [--mask COL=RULE]… [--no-default-masks] [--no-content-masks] [--seed N] [--every 6h] [--dry-run [--rows 1000]] [--json]',
    options: {
      ...json,
      name: { type: 'string' },
      percent: { type: 'string' },
      'max-rows': { type: 'string' },
      table: { type: 'string', multiple: true },
      mask: { type: 'string', multiple: true },
      'no-default-masks': { type: 'boolean' },
      'no-content-masks': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      rows: { type: 'string' },
      seed: { type: 'string' },
      every: { type: 'string' },
    },
    async run({ positionals, values: v, api, io }) {
      const client = await api()
      const id = await sourceId(client, one(positionals, 'source'))
      const input: OpInput<'createMirror'> = {
        id,
        ...(v.name ? { name: String(v.name) } : {}),
        sample: {
          ...(v.percent !== undefined ? { percent: Number(String(v.percent).replace(/%$/, '')) } : {}),
          ...(v['max-rows'] !== undefined ? { maxRows: Number(v['max-rows']) } : {}),
          ...(v.seed !== undefined ? { seed: Number(v.seed) } : {}),
          perTable: perTable(v.table),
        },
        masking: { defaults: !v['no-default-masks'], content: !v['no-content-masks'], rules: maskRules(v.mask) },
        ...(v.every ? { refreshEverySeconds: seconds(String(v.every), '--every') } : {}),
        wait: false,
      }
      if (v['dry-run']) {
        const rowsPerTable = v.rows !== undefined ? Number(v.rows) : undefined
        const plan = await client.planMasking({ id, sample: input.sample, masking: input.masking, ...(rowsPerTable !== undefined ? { rowsPerTable } : {}) })
        io.print(plan, () => maskingText(plan, true))
        return 0
      }
      io.info(`building mirror of ${id}…`)
      const m = await follow(client, io, await client.createMirror(input))
      io.print(m, () => reportText(m))
      return 0
    },
  },
  {
    words: ['data', 'mirror', 'refresh'],
    summary: 'Rebuild a mirror from its source (clones keep their data); progress on stderr',
    usage: '<mirror id|name> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const client = await api()
      const m = await follow(client, io, await client.refreshMirror({ id: one(positionals, 'mirror'), wait: false }))
      io.print(m, () => reportText(m))
      return 0
    },
  },
  {
    words: ['data', 'mirror', 'rm'],
    summary: 'Delete a mirror (destroy its clones first)',
    usage: '<mirror id|name> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const id = one(positionals, 'mirror')
      await (await api()).deleteMirror({ id })
      io.print({ deleted: id }, () => `removed ${id}`)
      return 0
    },
  },
  {
    words: ['data', 'clone'],
    summary: 'Create a writable clone of a mirror (own server and credentials); prints its URL',
    usage: '<mirror id|name> [--sandbox sbx_…] [--ttl 1h] [--json]',
    options: { ...json, sandbox: { type: 'string' }, ttl: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const c = await (
        await api()
      ).createClone({
        mirror: one(positionals, 'mirror'),
        ...(v.sandbox ? { sandbox: String(v.sandbox) } : {}),
        ...(v.ttl ? { ttlSeconds: seconds(String(v.ttl), '--ttl') } : {}),
      })
      io.print(c, () => c.url)
      io.info(`clone ${c.id} expires ${c.expiresAt}${c.sandbox ? `; ${c.sandbox} has DATABASE_URL` : ''}`)
      return 0
    },
  },
  {
    words: ['data', 'snapshot'],
    summary: 'Snapshot a clone (a state to reset to)',
    usage: '<clone id> [--label L] [--json]',
    options: { ...json, label: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const s = await (await api()).createCloneSnapshot({ id: one(positionals, 'clone id'), ...(v.label ? { label: String(v.label) } : {}) })
      io.print(s, () => s.id)
      return 0
    },
  },
  {
    words: ['data', 'reset'],
    summary: "Reset a clone to the mirror's state (or to one of its snapshots)",
    usage: '<clone id> [--to start|dsnap_…] [--json]',
    options: { ...json, to: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const c = await (await api()).resetClone({ id: one(positionals, 'clone id'), to: (v.to ? String(v.to) : 'start') as 'start' })
      io.print(c, () => `${c.id} reset to ${v.to ?? 'start'} at ${c.resetAt}`)
      return 0
    },
  },
  {
    words: ['data', 'ls'],
    summary: 'List mirrors and clones',
    usage: '[--json]',
    options: json,
    async run({ api, io }) {
      const client = await api()
      const [mirrors, clones] = await Promise.all([client.listMirrors({ limit: 1000 }), client.listClones({ limit: 1000 })])
      io.print({ mirrors: mirrors.items, clones: clones.items }, () =>
        [
          'MIRRORS',
          table(
            mirrors.items.map((m) => ({
              id: m.id,
              name: m.name,
              state: m.refreshing ? `${m.state} (building)` : m.state,
              rows: m.report?.rows,
              size: m.report ? mb(m.report.bytes) : undefined,
              refreshed: m.refreshedAt,
              clones: m.clones,
            })),
            ['id', 'name', 'state', 'rows', 'size', 'refreshed', 'clones'],
          ),
          '',
          'CLONES',
          table(
            clones.items.map((c) => ({ id: c.id, mirror: c.mirrorId, state: c.state, port: c.port, sandbox: c.sandbox, disk: mb(c.diskBytes), expires: c.expiresAt })),
            ['id', 'mirror', 'state', 'port', 'sandbox', 'disk', 'expires'],
          ),
        ].join('\n'),
      )
      return 0
    },
  },
  {
    words: ['data', 'get'],
    summary: 'Show one clone (URL, socket, snapshots)',
    usage: '<clone id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const c = await (await api()).getClone({ id: one(positionals, 'clone id') })
      io.print(c, () => cloneText(c))
      return 0
    },
  },
  {
    words: ['data', 'rm'],
    summary: 'Destroy clones: server, data, socket, snapshots (idempotent)',
    usage: '<clone id>… [--json]',
    options: json,
    async run({ positionals, api, io }) {
      if (positionals.length === 0) throw new Error('missing clone id')
      const client = await api()
      for (const id of positionals) await client.deleteClone({ id })
      io.print({ deleted: positionals }, () => positionals.map((id) => `destroyed ${id}`).join('\n'))
      return 0
    },
  },
]
