/**
 * @module cli/commands/network — `tidepool network events|policy|stub-calls|stats` and
 * `tidepool secret set|list|delete`. A secret's value is read from stdin, never from the command line
 * (argv is visible to every process on the host).
 */
import type { NetworkEvent, SandboxNetwork } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map(String))
const one = (positionals: string[], what: string): string => {
  const v = positionals[0]
  if (!v) throw new Error(`missing ${what}`)
  return v
}

const eventRow = (e: NetworkEvent) => ({
  at: e.at,
  sandbox: e.sandboxId,
  proto: e.protocol,
  dest: `${e.host}:${e.port}`,
  verdict: e.verdict,
  up: e.bytesUp,
  down: e.bytesDown,
  rule: e.rule,
})

export function describePolicy(n: SandboxNetwork): string {
  const levels = (xs: { level: string; patterns: string[] }[]) => (xs.length ? xs.map((x) => `${x.level}: ${x.patterns.join(', ')}`).join('; ') : '(none)')
  return [
    `sandbox:   ${n.sandboxId}${n.attached ? '' : ' (not attached to the egress proxy)'}`,
    `allowed:   ${n.policy.allowedDomains.join(', ') || '(none at this level)'}`,
    `denied:    ${n.policy.deniedDomains.join(', ') || '(none at this level)'}`,
    `effective: allow where every level allows — ${levels(n.effective.allow)}`,
    `           deny where any level denies — ${levels(n.effective.deny)}`,
    `updated:   ${n.updatedAt}`,
  ].join('\n')
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > 16_384) throw new Error('a secret value is at most 16384 bytes')
    parts.push(chunk)
  }
  // One trailing newline (as `echo` or a file adds) is not part of the value.
  let text = Buffer.concat(parts).toString('utf8')
  if (text.endsWith('\n')) text = text.slice(0, text.endsWith('\r\n') ? -2 : -1)
  return text
}

export const networkCommands: CliCommand[] = [
  {
    words: ['network', 'events'],
    summary: 'Egress attempts, newest first (allowed, denied, stubbed, error)',
    usage: '[--sandbox ID] [--verdict allowed|denied|stubbed|error] [--host H] [--limit N] [--next TOKEN] [--json]',
    options: { ...json, sandbox: { type: 'string' }, verdict: { type: 'string' }, host: { type: 'string' }, limit: { type: 'string' }, next: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (
        await api()
      ).listNetworkEvents({
        ...(v.sandbox ? { sandboxId: String(v.sandbox) } : {}),
        ...(v.verdict ? { verdict: String(v.verdict) as NetworkEvent['verdict'] } : {}),
        ...(v.host ? { host: String(v.host) } : {}),
        ...(v.limit ? { limit: Number(v.limit) } : {}),
        ...(v.next ? { nextToken: String(v.next) } : {}),
      })
      io.print(page, () => `${table(page.items.map(eventRow), ['at', 'sandbox', 'proto', 'dest', 'verdict', 'up', 'down', 'rule'])}${page.nextToken ? `\nmore: --next ${page.nextToken}` : ''}`)
      return 0
    },
  },
  {
    words: ['network', 'policy'],
    summary: "Show a sandbox's egress policy, or replace its own allow/deny lists (new connections use them)",
    usage: '<id> [--allow DOMAIN]… [--deny DOMAIN]… [--clear-allow] [--clear-deny] [--json]',
    options: { ...json, allow: { type: 'string', multiple: true }, deny: { type: 'string', multiple: true }, 'clear-allow': { type: 'boolean' }, 'clear-deny': { type: 'boolean' } },
    async run({ positionals, values: v, api, io }) {
      const id = one(positionals, 'sandbox id')
      const allow = v['clear-allow'] ? [] : list(v.allow)
      const deny = v['clear-deny'] ? [] : list(v.deny)
      const client = await api()
      const n = allow || deny ? await client.patchSandboxNetwork({ id, ...(allow ? { allowedDomains: allow } : {}), ...(deny ? { deniedDomains: deny } : {}) }) : await client.getSandboxNetwork({ id })
      io.print(n, () => describePolicy(n))
      return 0
    },
  },
  {
    words: ['network', 'stub-calls'],
    summary: 'What sandboxes sent a stub (config network.stubs), oldest first',
    usage: '<stub name> [--sandbox ID] [--limit N] [--json]',
    options: { ...json, sandbox: { type: 'string' }, limit: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const page = await (await api()).listStubCalls({ name: one(positionals, 'stub name'), ...(v.sandbox ? { sandboxId: String(v.sandbox) } : {}), ...(v.limit ? { limit: Number(v.limit) } : {}) })
      io.print(page, () => page.items.map((e) => `${e.at} ${e.sandboxId} ${e.call?.method} ${e.host}${e.call?.path}${e.call?.body ? `\n  ${e.call.body}` : ''}`).join('\n') || '(none)')
      return 0
    },
  },
  {
    words: ['network', 'stats'],
    summary: "The egress proxy's counters (admin)",
    usage: '[--json]',
    options: { ...json },
    async run({ api, io }) {
      const s = await (await api()).getNetworkStats({})
      io.print(s, () =>
        Object.entries(s)
          .map(([k, x]) => `${k.padEnd(20)} ${x}`)
          .join('\n'),
      )
      return 0
    },
  },
  {
    words: ['secret', 'set'],
    summary: 'Store a secret the egress proxy can broker; the value is read from stdin (admin)',
    usage: '<name> < value-file',
    options: { ...json },
    async run({ positionals, api, io }) {
      const name = one(positionals, 'secret name')
      const s = await (await api()).createSecret({ name, value: await readStdin() })
      io.print(s, () => `secret ${s.name} stored (encrypted)`)
      return 0
    },
  },
  {
    words: ['secret', 'list'],
    summary: "The project's secrets, without values (admin)",
    usage: '[--json]',
    options: { ...json },
    async run({ api, io }) {
      const out = await (await api()).listSecrets({})
      io.print(out, () => table(out.items, ['name', 'createdAt', 'updatedAt']))
      return 0
    },
  },
  {
    words: ['secret', 'delete'],
    summary: 'Delete a secret (admin, idempotent)',
    usage: '<name>',
    options: {},
    async run({ positionals, api }) {
      await (await api()).deleteSecret({ name: one(positionals, 'secret name') })
      return 0
    },
  },
]
