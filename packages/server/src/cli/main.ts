#!/usr/bin/env node
/** @module cli/main — `tidepool`: parse words and flags, run one command, map errors to exit codes. */
import { parseArgs } from 'node:util'
import { createClient, errorExitCode, type ErrorCode } from '@tidepool/sdk'
import { clientSettings, loadConfig, type Config } from '../config.js'
import { AppError } from '../core/errors.js'
import type { CliCommand } from './command.js'
import { accessCommands } from './commands/access.js'
import { dataCommands } from './commands/data.js'
import { e2bCommands } from './commands/e2b.js'
import { envCommands } from './commands/env.js'
import { gateCommands } from './commands/gate.js'
import { insightsCommands } from './commands/insights.js'
import { replayCommand } from './commands/replay.js'
import { localCommands } from './commands/local.js'
import { networkCommands } from './commands/network.js'
import { policyCommands } from './commands/policy.js'
import { mcpCommand } from './commands/mcp.js'
import { runCommand } from './commands/run.js'
import { sandboxCommands } from './commands/sandbox.js'
import { templateCommands } from './commands/template.js'
import { workflowCommands } from './commands/workflow.js'
import { webhookCommands } from './commands/webhook.js'
import { createIo } from './io.js'
import { upCommand } from './up.js'

const version = '0.1.0'

async function main(argv: string[]): Promise<number> {
  // Global flags may come first: tidepool [--config FILE] <words…>
  let configFile: string | undefined
  while (argv[0] === '--config') {
    configFile = argv[1]
    argv = argv.slice(2)
  }
  let cached: Config | undefined
  const config = () => (cached ??= loadConfig({ env: process.env, file: configFile }))
  const commands: CliCommand[] = [
    upCommand(() => configFile),
    ...sandboxCommands,
    runCommand,
    ...accessCommands,
    replayCommand,
    ...localCommands(config),
    ...insightsCommands,
    ...dataCommands,
    ...gateCommands,
    ...templateCommands(config),
    ...networkCommands,
    ...workflowCommands,
    ...webhookCommands,
    ...policyCommands(config),
    ...envCommands(config),
    mcpCommand,
    ...e2bCommands,
  ]

  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(help(commands))
    return 0
  }
  if (argv[0] === 'version' || argv[0] === '--version') {
    process.stdout.write(`tidepool ${version}\n`)
    return 0
  }
  const command = commands.filter((c) => c.words.every((w, i) => argv[i] === w)).sort((a, b) => b.words.length - a.words.length)[0]
  if (!command) {
    const near = commands.filter((c) => c.words[0] === argv[0]).map((c) => `tidepool ${c.words.join(' ')} ${c.usage}`)
    process.stderr.write(`tidepool: unknown command ${JSON.stringify(argv.join(' '))}\n${near.length ? `did you mean:\n  ${near.join('\n  ')}\n` : 'run tidepool help\n'}`)
    return 64
  }
  const rest = argv.slice(command.words.length)
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`tidepool ${command.words.join(' ')} ${command.usage}\n  ${command.summary}\n`)
    return 0
  }
  const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true })
  const io = createIo(Boolean(values.json))
  const connection = () => {
    const s = clientSettings(process.env, config())
    if (!s.token) throw new AppError('unauthenticated', `no token: set TIDEPOOL_TOKEN, or start the server once so it writes ${s.tokenFile}`)
    return { baseUrl: s.baseUrl, token: s.token }
  }
  const api = async () => createClient(connection())
  return command.run({ values: values as never, positionals, api, connection, io, cwd: process.cwd() })
}

function help(commands: CliCommand[]): string {
  const lines = commands.map((c) => `  ${`${c.words.join(' ')} ${c.usage}`.padEnd(64)}  ${c.summary}`)
  return `tidepool ${version} — ephemeral sandboxes for agents and CI\n\nUsage: tidepool [--config FILE] <command> [flags]\n\n${lines.join('\n')}\n\nEnvironment: TIDEPOOL_URL (default http://127.0.0.1:7070), TIDEPOOL_TOKEN (default: $TIDEPOOL_HOME/admin.token), TIDEPOOL_HOME (~/.tidepool).\nEvery read command takes --json. Exit codes: the command's own for exec; see docs/errors.md otherwise.\n`
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string; requestId?: string }
    const code = e.code && e.code in errorExitCode ? (e.code as ErrorCode) : undefined
    if (code) {
      process.stderr.write(`tidepool: ${code}: ${e.message}${e.requestId ? ` (request ${e.requestId})` : ''}\n`)
      process.exitCode = errorExitCode[code]
    } else if (e.code === 'network_error') {
      process.stderr.write(`tidepool: cannot reach the API: ${e.message}\n  start it with: npx tidepool up   (or set TIDEPOOL_URL)\n`)
      process.exitCode = 69
    } else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tidepool: ${e.message}\n`)
      process.exitCode = 64
    } else {
      process.stderr.write(`tidepool: ${e.message ?? String(err)}\n`)
      process.exitCode = err instanceof Error && !(err instanceof AppError) && !e.code ? 64 : 70
    }
  },
)
