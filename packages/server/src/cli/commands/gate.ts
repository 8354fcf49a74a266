/** @module cli/commands/gate — `tidepool propose | approve | promote | rollback | gate …`: the sandbox-first gate. */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Proposal } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { table } from '../io.js'

const json = { json: { type: 'boolean' } } as const

function one(positionals: string[], what: string): string {
  const v = positionals[0]
  if (!v) throw new Error(`missing ${what}`)
  return v
}

/** SQL from `--flag 'SQL'` or `--flag-file FILE`. */
function sqlOf(values: Record<string, unknown>, cwd: string, name: string): string | undefined {
  const file = values[`${name}-file`]
  if (typeof file === 'string') return readFileSync(resolve(cwd, file), 'utf8')
  const text = values[name]
  return typeof text === 'string' ? text : undefined
}

/** What a reviewer needs before approving: the hash, the verdict and its reasons, the evidence, the rollback plan. */
export function proposalText(p: Proposal): string {
  const e = p.evidence
  return [
    `proposal ${p.id} on ${p.target}: ${p.state}`,
    `hash:      ${p.hash}`,
    `intent:    ${p.intent}`,
    `class:     ${p.classification.category}${p.classification.destructive ? ', destructive' : ''}${p.classification.heavyLocks ? ', heavy locks' : ''}`,
    ...(p.decision ? [`verdict:   ${p.decision.verdict}${p.decision.skip ? ` (rehearsal skipped: ${p.decision.skip})` : ''}`, ...p.decision.reasons.map((r) => `  - ${r}`)] : []),
    ...(e
      ? [
          `evidence:  ${e.hash.slice(0, 16)}… ${e.rowsChanged} rows changed, artifact ${e.artifactMs} ms (+${e.overheadMs} ms rehearsal)${e.error ? `, error: ${e.error.message}` : ''}`,
          ...e.tables.map((t) => `  ${t.table}: +${t.inserted} ~${t.updated} -${t.deleted} (${t.rowsBefore} → ${t.rowsAfter} rows)`),
          ...[...e.schemaDiff.added.map((l) => `  + ${l}`), ...e.schemaDiff.removed.map((l) => `  - ${l}`), ...e.schemaDiff.changed.map((l) => `  ~ ${l}`)],
          ...e.droppedWithData.map((d) => `  removed with data: ${d}`),
          ...(e.locks.length ? [`  locks: ${e.locks.map((l) => `${l.table} ${l.mode}${l.source === 'implied' ? '*' : ''}`).join(', ')}`] : []),
        ]
      : []),
    `rollback:  ${p.rollback ?? '(none: a failed verification cannot be undone automatically)'}`,
    ...(p.verify ? [`verify:    ${p.verify}`] : []),
    ...(p.approval ? [`approved:  by ${p.approval.by} at ${p.approval.at}`] : []),
    ...(p.promotion ? [`promotion: by ${p.promotion.by} ${p.promotion.finishedAt ? `finished ${p.promotion.finishedAt}` : 'running'}${p.promotion.error ? ` — ${p.promotion.error}` : ''}`] : []),
  ].join('\n')
}

export const gateCommands: CliCommand[] = [
  {
    words: ['gate', 'target', 'add'],
    summary: 'Register a gate target: a production PostgreSQL URL (kept server-side) and the mirror rehearsals clone (admin)',
    usage: '<name> --url postgresql://… --mirror M [--role R] [--lock-timeout MS] [--statement-timeout MS] [--json]',
    options: { ...json, url: { type: 'string' }, mirror: { type: 'string' }, role: { type: 'string' }, 'lock-timeout': { type: 'string' }, 'statement-timeout': { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const t = await (
        await api()
      ).createGateTarget({
        name: one(positionals, 'target name'),
        url: String(v.url ?? ''),
        mirror: String(v.mirror ?? ''),
        settings: {
          lockTimeoutMs: v['lock-timeout'] ? Number(v['lock-timeout']) : 2000,
          statementTimeoutMs: v['statement-timeout'] ? Number(v['statement-timeout']) : 60_000,
          ...(v.role ? { role: String(v.role) } : {}),
        },
      })
      io.print(t, () => `${t.id} ${t.name}: ${t.url}, rehearsed on mirror ${t.mirror}`)
      return 0
    },
  },
  {
    words: ['gate', 'ls'],
    summary: 'List proposals (newest last), or targets with --targets',
    usage: '[--target T] [--state S] [--targets] [--limit N] [--next TOKEN] [--json]',
    options: { ...json, target: { type: 'string' }, state: { type: 'string' }, targets: { type: 'boolean' }, limit: { type: 'string' }, next: { type: 'string' } },
    async run({ values: v, api, io }) {
      const client = await api()
      const paging = { limit: v.limit ? Number(v.limit) : 100, ...(v.next ? { nextToken: String(v.next) } : {}) }
      if (v.targets) {
        const page = await client.listGateTargets(paging)
        io.print(page, () =>
          table(
            page.items.map((t) => ({ id: t.id, name: t.name, url: t.url, mirror: t.mirror, lock: t.lock ? `${t.lock.owner} (${t.lock.reason})` : '' })),
            ['id', 'name', 'url', 'mirror', 'lock'],
          ),
        )
        return 0
      }
      const page = await client.listProposals({ ...paging, ...(v.target ? { target: String(v.target) } : {}), ...(v.state ? { state: String(v.state) as Proposal['state'] } : {}) })
      io.print(page, () =>
        [
          table(
            page.items.map((p) => ({
              id: p.id,
              target: p.target,
              state: p.state,
              verdict: p.decision?.verdict ?? '',
              class: p.classification.category,
              hash: p.hash.slice(0, 12),
              intent: p.intent.slice(0, 60),
            })),
            ['id', 'target', 'state', 'verdict', 'class', 'hash', 'intent'],
          ),
          ...(page.nextToken ? [`more: --next ${page.nextToken}`] : []),
        ].join('\n'),
      )
      return 0
    },
  },
  {
    words: ['gate', 'show'],
    summary: 'Show a proposal: hash, verdict, evidence and the rollback plan',
    usage: '<proposal> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const p = await (await api()).getProposal({ id: one(positionals, 'proposal id') })
      io.print(p, () => proposalText(p))
      return 0
    },
  },
  {
    words: ['gate', 'lock'],
    summary: 'Take the promotion lock of a target',
    usage: '<target> --reason R [--ttl SECONDS] [--json]',
    options: { ...json, reason: { type: 'string' }, ttl: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const t = await (await api()).lockGateTarget({ id: one(positionals, 'target'), reason: String(v.reason ?? ''), ...(v.ttl ? { ttlSeconds: Number(v.ttl) } : {}) })
      io.print(t, () => `${t.name} locked by ${t.lock?.owner} until ${t.lock?.expiresAt}`)
      return 0
    },
  },
  {
    words: ['gate', 'unlock'],
    summary: "Release a target's promotion lock (--force: another owner's, admin, audited)",
    usage: '<target> [--force] [--json]',
    options: { ...json, force: { type: 'boolean' } },
    async run({ positionals, values: v, api, io }) {
      const t = await (await api()).unlockGateTarget({ id: one(positionals, 'target'), force: v.force ? 'true' : 'false' })
      io.print(t, () => `${t.name} unlocked`)
      return 0
    },
  },
  {
    words: ['propose'],
    summary: 'Propose a SQL change to a target: hashed, classified, rehearsed on a clone of its mirror, decided',
    usage:
      '<target> (--sql SQL | --sql-file F) --intent TEXT [--rollback SQL | --rollback-file F] [--verify SQL | --verify-file F] [--max-rows N] [--tables a,b] [--destructive] [--heavy-locks] [--json]',
    options: {
      ...json,
      sql: { type: 'string' },
      'sql-file': { type: 'string' },
      rollback: { type: 'string' },
      'rollback-file': { type: 'string' },
      verify: { type: 'string' },
      'verify-file': { type: 'string' },
      intent: { type: 'string' },
      'max-rows': { type: 'string' },
      tables: { type: 'string' },
      destructive: { type: 'boolean' },
      'heavy-locks': { type: 'boolean' },
    },
    async run({ positionals, values: v, api, io, cwd }) {
      const rollback = sqlOf(v, cwd, 'rollback')
      const verify = sqlOf(v, cwd, 'verify')
      io.info('rehearsing on a fresh clone of the mirror…')
      const p = await (
        await api()
      ).createProposal({
        target: one(positionals, 'target'),
        artifact: sqlOf(v, cwd, 'sql') ?? '',
        intent: String(v.intent ?? ''),
        ...(rollback !== undefined ? { rollback } : {}),
        ...(verify !== undefined ? { verify } : {}),
        expect: {
          destructive: Boolean(v.destructive),
          heavyLocks: Boolean(v['heavy-locks']),
          ...(v['max-rows'] ? { maxRowsChanged: Number(v['max-rows']) } : {}),
          ...(v.tables ? { tables: String(v.tables).split(',') } : {}),
        },
      })
      io.print(p, () => proposalText(p))
      return p.decision?.verdict === 'pass' ? 0 : 1
    },
  },
  {
    words: ['approve'],
    summary: 'Approve a proposal for the hash you reviewed (the rollback plan is printed first)',
    usage: '<proposal> --hash SHA256 [--json]',
    options: { ...json, hash: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const client = await api()
      const id = one(positionals, 'proposal id')
      const before = await client.getProposal({ id })
      io.info(`rollback plan: ${before.rollback ?? '(none)'}`)
      const p = await client.approveProposal({ id, hash: String(v.hash ?? '') })
      io.print(p, () => proposalText(p))
      return 0
    },
  },
  {
    words: ['promote'],
    summary: 'Promote the approved hash to the target, then verify (a failed verification rolls back)',
    usage: '<proposal> --hash SHA256 [--json]',
    options: { ...json, hash: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      io.info('promoting…')
      const p = await (await api()).promoteProposal({ id: one(positionals, 'proposal id'), hash: String(v.hash ?? '') })
      io.print(p, () => proposalText(p))
      return p.state === 'verified' ? 0 : 1
    },
  },
  {
    words: ['rollback'],
    summary: 'Run the rollback of a promoted proposal',
    usage: '<proposal> --reason R [--json]',
    options: { ...json, reason: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const p = await (await api()).rollbackProposal({ id: one(positionals, 'proposal id'), reason: String(v.reason ?? '') })
      io.print(p, () => proposalText(p))
      return 0
    },
  },
]
