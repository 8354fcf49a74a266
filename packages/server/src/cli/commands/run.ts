/** @module cli/commands/run — `tidepool run -- <cmd>`: one command in a fresh sandbox, nothing left after. */
import { readFileSync } from 'node:fs'
import type { CliCommand } from '../command.js'
import { relayCommandOutput } from './command-output.js'
import { keyValues, parseDuration } from '../io.js'

export const runCommand: CliCommand = {
  words: ['run'],
  summary: "Run one command in a fresh sandbox that is destroyed after, streaming its output; exits with the command's exit code",
  usage: '[--template T] [--cwd DIR] [--env K=V]… [--user user|root] [--timeout 60s] [--cpu N] [--memory MiB] [--stdin] [--json] -- <cmd> [args…]',
  options: {
    json: { type: 'boolean' },
    template: { type: 'string' },
    cwd: { type: 'string' },
    env: { type: 'string', multiple: true },
    user: { type: 'string' },
    timeout: { type: 'string' },
    cpu: { type: 'string' },
    memory: { type: 'string' },
    stdin: { type: 'boolean' },
  },
  async run({ positionals: cmd, values: v, api, io }) {
    if (cmd.length === 0) throw new Error('usage: tidepool run [flags] -- <cmd> [args…]')
    const input = {
      // One word with spaces is a shell line (like exec); several words are an argv.
      cmd: cmd.length === 1 && /\s/.test(cmd[0]!) ? cmd[0]! : cmd,
      ...(v.template ? { template: String(v.template) } : {}),
      ...(v.cwd ? { cwd: String(v.cwd) } : {}),
      envs: keyValues(v.env, '--env'),
      ...(v.user ? { user: v.user as 'user' | 'root' } : {}),
      ...(v.timeout ? { timeoutMs: parseDuration(String(v.timeout), '--timeout') } : {}),
      resources: {
        ...(v.cpu !== undefined ? { cpu: Number(v.cpu) } : {}),
        ...(v.memory !== undefined ? { memoryMb: Number(v.memory) } : {}),
      },
      ...(v.stdin ? { stdin: readFileSync(0, 'utf8') } : {}),
    }
    const client = await api()
    if (io.json) {
      const r = await client.run(input)
      io.print(r, () => '')
      return r.exitCode
    }
    return relayCommandOutput(client, 'run', input, io)
  },
}
