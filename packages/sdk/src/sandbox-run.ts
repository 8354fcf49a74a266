/** @module sandbox-run — `Sandbox.run(cmd)`: one command in a fresh sandbox that is destroyed after (POST /v1/run). */
import type { Client } from './client.js'
import type { OneShotInput, OneShotResult } from './contract/sandbox.js'
import { CommandExitError, streamed, type RunOptions } from './sandbox-commands.js'

/** Options of `Sandbox.run`: the sandbox's template and limits, the command's settings, and output callbacks. */
export interface OneShotOptions extends Omit<OneShotInput, 'cmd'>, Pick<RunOptions, 'onStdout' | 'onStderr' | 'throwOnError' | 'outputLimit' | 'signal' | 'requestTimeoutMs'> {}

const DEFAULT_TIMEOUT_MS = 60_000
const REQUEST_MARGIN_MS = 30_000

/** Buffered JSON, or NDJSON when a callback wants output as it comes. */
export async function runOnce(client: Client, cmd: string | string[], opts: OneShotOptions): Promise<OneShotResult> {
  const { onStdout, onStderr, throwOnError, outputLimit, signal, requestTimeoutMs, ...rest } = opts
  const input = { ...rest, cmd }
  let result: OneShotResult
  if (onStdout || onStderr) {
    result = (await streamed((o) => client.stream('run', input, o), { onStdout, onStderr, outputLimit, signal, requestTimeoutMs })) as OneShotResult
  } else {
    result = await client.run(input, { signal, timeoutMs: requestTimeoutMs ?? (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) + REQUEST_MARGIN_MS })
  }
  if (throwOnError && result.exitCode !== 0) throw new CommandExitError(result)
  return result
}
