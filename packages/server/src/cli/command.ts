/** @module cli/command — the shape of one CLI command. Each command is a thin call to one or two `api.<op>()`s. */
import type { ParseArgsConfig } from 'node:util'
import type { Client } from '@tidepool/sdk'

export interface CliIo {
  /** True with --json: print one JSON document on stdout, nothing else. */
  json: boolean
  /** Output for humans or machines (stdout). */
  out(text: string): void
  /** Progress and warnings (stderr), silent under --json. */
  info(text: string): void
  /** Print a value as JSON (under --json) or through `human` otherwise. */
  print(value: unknown, human: () => string): void
}

export interface CliContext {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
  /** The API client, built from TIDEPOOL_URL and TIDEPOOL_TOKEN (or the admin token file). */
  api: () => Promise<Client>
  /** The server URL and token the API client uses (for commands that print them for another tool, e.g. `e2b env`). */
  connection?: () => { baseUrl: string; token: string }
  io: CliIo
  /** Raw stdin (for commands reading a body), and the environment's cwd for relative files. */
  cwd: string
}

export interface CliCommand {
  /** Words that select the command, e.g. ['sandbox', 'create'] or ['ingest', 'junit']. */
  words: string[]
  summary: string
  /** One-line usage after `tidepool <words>`, e.g. '<id> [--json]'. */
  usage: string
  options: NonNullable<ParseArgsConfig['options']>
  /** Returns the process exit code. Throw AppError/ApiError for failures; the CLI maps codes to exit codes. */
  run(ctx: CliContext): Promise<number>
}
