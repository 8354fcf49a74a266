/** @module cli/commands/sandbox — `tidepool sandbox …`, `exec`, `files …`. */
import { readFileSync, writeFileSync } from 'node:fs'
import type { SandboxInfo as Sandbox } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { relayCommandOutput } from './command-output.js'
import { keyValues, parseDuration, table } from '../io.js'
import { portCommands } from './port.js'
import { snapshotCommands } from './snapshot.js'

const json = { json: { type: 'boolean' } } as const
const one = (positionals: string[], what: string): string => {
  const v = positionals[0]
  if (!v) throw new Error(`missing ${what}`)
  return v
}

const row = (s: Sandbox) => ({ id: s.id, state: s.state, reason: s.reason, template: s.template, expires: s.expiresAt, memory: `${s.resources.memoryMb}M`, cpu: s.resources.cpu })
const columns = ['id', 'state', 'reason', 'template', 'expires', 'memory', 'cpu']
const describe = (s: Sandbox) =>
  [
    `id:        ${s.id}`,
    `state:     ${s.state} (${s.reason})`,
    `template:  ${s.template}`,
    `expires:   ${s.expiresAt} (timeout ${s.timeoutMs} ms, on timeout: ${s.lifecycle.onTimeout}${s.lifecycle.autoResume ? ', auto-resume' : ''})`,
    `resources: cpu ${s.resources.cpu}, memory ${s.resources.memoryMb} MiB, pids ${s.resources.pids}`,
    `metadata:  ${
      Object.entries(s.metadata)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '-'
    }`,
  ].join('\n')

function resourcesFrom(v: CliCommandValues) {
  return {
    ...(v.cpu !== undefined ? { cpu: Number(v.cpu) } : {}),
    ...(v.memory !== undefined ? { memoryMb: Number(v.memory) } : {}),
    ...(v.pids !== undefined ? { pids: Number(v.pids) } : {}),
  }
}
type CliCommandValues = Record<string, unknown>

export const sandboxCommands: CliCommand[] = [
  // snapshot, fork, reset (and `snapshot …`) live in their own file
  ...snapshotCommands,
  ...portCommands,
  {
    words: ['sandbox', 'create'],
    summary: 'Create a sandbox and print its id',
    usage: '[--template default | --from-snapshot snap_…] [--timeout 5m] [--cpu 1] [--memory 512] [--pids 256] [--env K=V]… [--meta K=V]… [--on-timeout kill|pause] [--auto-resume] [--json]',
    options: {
      ...json,
      template: { type: 'string' },
      'from-snapshot': { type: 'string' },
      timeout: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      pids: { type: 'string' },
      env: { type: 'string', multiple: true },
      meta: { type: 'string', multiple: true },
      'on-timeout': { type: 'string' },
      'auto-resume': { type: 'boolean' },
      'deny-read': { type: 'string', multiple: true },
    },
    async run({ values: v, api, io }) {
      const s = await (
        await api()
      ).createSandbox({
        ...(v.template ? { template: String(v.template) } : {}),
        ...(v['from-snapshot'] ? { fromSnapshot: String(v['from-snapshot']) } : {}),
        ...(v.timeout ? { timeoutMs: parseDuration(String(v.timeout), '--timeout') } : {}),
        resources: resourcesFrom(v),
        envs: keyValues(v.env, '--env'),
        metadata: keyValues(v.meta, '--meta'),
        lifecycle: { onTimeout: (v['on-timeout'] as 'kill' | 'pause' | undefined) ?? 'kill', autoResume: Boolean(v['auto-resume']) },
        ...(v['deny-read'] ? { filesystem: { denyRead: (v['deny-read'] as string[]).map(String) } } : {}),
      })
      io.print(s, () => s.id)
      return 0
    },
  },
  {
    words: ['sandbox', 'ls'],
    summary: 'List sandboxes',
    usage: '[--state running|paused|stopped] [--meta K=V]… [--limit N] [--next-token T] [--json]',
    options: { ...json, state: { type: 'string' }, meta: { type: 'string', multiple: true }, limit: { type: 'string' }, 'next-token': { type: 'string' } },
    async run({ values: v, api, io }) {
      const metadata = keyValues(v.meta, '--meta')
      const page = await (
        await api()
      ).listSandboxes({
        ...(v.state ? { state: v.state as never } : {}),
        ...(Object.keys(metadata).length ? { metadata } : {}),
        ...(v.limit ? { limit: Number(v.limit) } : {}),
        ...(v['next-token'] ? { nextToken: String(v['next-token']) } : {}),
      })
      io.print(page, () => table(page.items.map(row), columns) + (page.nextToken ? `\n(more: --next-token ${page.nextToken})` : ''))
      return 0
    },
  },
  {
    words: ['sandbox', 'get'],
    summary: 'Show one sandbox',
    usage: '<id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const s = await (await api()).getSandbox({ id: one(positionals, 'sandbox id') })
      io.print(s, () => describe(s))
      return 0
    },
  },
  {
    words: ['sandbox', 'rm'],
    summary: 'Destroy sandboxes (idempotent)',
    usage: '<id>… [--json]',
    options: json,
    async run({ positionals, api, io }) {
      if (positionals.length === 0) throw new Error('missing sandbox id')
      const client = await api()
      for (const id of positionals) await client.deleteSandbox({ id })
      io.print({ deleted: positionals }, () => positionals.map((id) => `destroyed ${id}`).join('\n'))
      return 0
    },
  },
  ...(['pause', 'resume'] as const).map((verb): CliCommand => ({
    words: ['sandbox', verb],
    summary: verb === 'pause' ? 'Freeze every process of a sandbox' : 'Thaw a paused sandbox',
    usage: '<id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const client = await api()
      const id = one(positionals, 'sandbox id')
      const s = verb === 'pause' ? await client.pauseSandbox({ id }) : await client.resumeSandbox({ id })
      io.print(s, () => `${s.id} ${s.state} (${s.reason})`)
      return 0
    },
  })),
  {
    words: ['sandbox', 'set'],
    summary: 'Extend the TTL or resize a sandbox live',
    usage: '<id> [--timeout 10m] [--cpu N] [--memory MB] [--pids N] [--json]',
    options: { ...json, timeout: { type: 'string' }, cpu: { type: 'string' }, memory: { type: 'string' }, pids: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const resources = resourcesFrom(v)
      const s = await (
        await api()
      ).patchSandbox({
        id: one(positionals, 'sandbox id'),
        ...(v.timeout ? { timeoutMs: parseDuration(String(v.timeout), '--timeout') } : {}),
        ...(Object.keys(resources).length ? { resources } : {}),
      })
      io.print(s, () => describe(s))
      return 0
    },
  },
  {
    words: ['sandbox', 'metrics'],
    summary: 'Resource usage of a sandbox',
    usage: '<id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const m = await (await api()).getSandboxMetrics({ id: one(positionals, 'sandbox id') })
      io.print(m, () =>
        [
          `cpu:     ${m.cpuSeconds.toFixed(3)} s`,
          `memory:  ${(m.memoryBytes / 1048576).toFixed(1)} MiB (peak ${(m.memoryPeakBytes / 1048576).toFixed(1)}, limit ${(m.memoryLimitBytes / 1048576).toFixed(0)})`,
          `pids:    ${m.pids} / ${m.pidsLimit}`,
          `oom kills: ${m.oomKills}`,
        ].join('\n'),
      )
      return 0
    },
  },
  {
    words: ['sandbox', 'events'],
    summary: 'Events of a sandbox (state changes, execs, OOM kills)',
    usage: '<id> [--limit N] [--json]',
    options: { ...json, limit: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const page = await (await api()).listSandboxEvents({ id: one(positionals, 'sandbox id'), ...(v.limit ? { limit: Number(v.limit) } : {}) })
      io.print(page, () =>
        table(
          page.items.map((e) => ({ seq: e.seq, at: e.at, kind: e.kind, actor: e.actor, data: JSON.stringify(e.data) })),
          ['seq', 'at', 'kind', 'actor', 'data'],
        ),
      )
      return 0
    },
  },
  {
    words: ['exec'],
    summary: "Run a command in a sandbox, streaming its output; exits with the command's exit code",
    usage: '<id> [--cwd DIR] [--env K=V]… [--user user|root] [--timeout 60s] [--stdin] [--background] [--json] -- <cmd> [args…]',
    options: {
      ...json,
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      user: { type: 'string' },
      timeout: { type: 'string' },
      stdin: { type: 'boolean' },
      background: { type: 'boolean' },
    },
    async run({ positionals, values: v, api, io }) {
      const [id, ...cmd] = positionals
      if (!id || cmd.length === 0) throw new Error('usage: tidepool exec <id> -- <cmd> [args…]')
      const client = await api()
      const input = {
        id,
        cmd: cmd.length === 1 && /\s/.test(cmd[0]!) ? cmd[0]! : cmd,
        ...(v.cwd ? { cwd: String(v.cwd) } : {}),
        envs: keyValues(v.env, '--env'),
        ...(v.user ? { user: v.user as 'user' | 'root' } : {}),
        ...(v.timeout ? { timeoutMs: parseDuration(String(v.timeout), '--timeout') } : {}),
        ...(v.stdin ? { stdin: readFileSync(0, 'utf8') } : {}),
      }
      if (v.background) {
        const info = await client.exec({ ...input, background: true })
        io.print(info, () => `started pid ${(info as { pid: number }).pid}`)
        return 0
      }
      if (io.json) {
        const r = (await client.exec(input)) as { exitCode: number }
        io.print(r, () => '')
        return r.exitCode
      }
      return relayCommandOutput(client, 'exec', input, io)
    },
  },
  {
    words: ['files', 'put'],
    summary: 'Upload a local file (or - for stdin) into a sandbox',
    usage: '<id> <local|-> <remote-path> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const [id, local, remote] = positionals
      if (!id || !local || !remote) throw new Error('usage: tidepool files put <id> <local|-> <remote-path>')
      const content = new Uint8Array(readFileSync(local === '-' ? 0 : local))
      const stat = await (await api()).writeFile({ id, path: remote, content })
      io.print(stat, () => `wrote ${content.byteLength} bytes to ${remote}`)
      return 0
    },
  },
  {
    words: ['files', 'get'],
    summary: 'Download a file from a sandbox (to stdout, or to a local path)',
    usage: '<id> <remote-path> [local]',
    options: {},
    async run({ positionals, api }) {
      const [id, remote, local] = positionals
      if (!id || !remote) throw new Error('usage: tidepool files get <id> <remote-path> [local]')
      const bytes = await (await api()).readFile({ id, path: remote })
      if (local && local !== '-') writeFileSync(local, bytes)
      else process.stdout.write(bytes)
      return 0
    },
  },
  {
    words: ['files', 'ls'],
    summary: 'List a directory in a sandbox',
    usage: '<id> [path] [--depth N] [--json]',
    options: { ...json, depth: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      const [id, path = '/home/user'] = positionals
      if (!id) throw new Error('missing sandbox id')
      const list = await (await api()).listFiles({ id, path, list: '1', ...(v.depth ? { depth: Number(v.depth) } : {}) })
      io.print(list, () =>
        table(
          list.items.map((e) => ({ type: e.type, mode: e.mode, size: e.size, modified: e.modifiedAt, path: e.path })),
          ['type', 'mode', 'size', 'modified', 'path'],
        ),
      )
      return 0
    },
  },
  {
    words: ['files', 'rm'],
    summary: 'Remove a file or directory tree in a sandbox (idempotent)',
    usage: '<id> <path>',
    options: json,
    async run({ positionals, api, io }) {
      const [id, path] = positionals
      if (!id || !path) throw new Error('usage: tidepool files rm <id> <path>')
      await (await api()).deleteFile({ id, path })
      io.print({ removed: path }, () => `removed ${path}`)
      return 0
    },
  },
]
