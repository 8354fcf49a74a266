/** @module cli/commands/command-output — a command's NDJSON stream (exec, run) relayed to this terminal. */
import type { Client, ClientInput } from '@tidepool/sdk'
import type { CliIo } from '../command.js'

/** Streams `op`'s output to stdout/stderr as it comes and resolves with the command's exit code (1 if none came). */
export async function relayCommandOutput<K extends 'exec' | 'run'>(client: Client, op: K, input: ClientInput<K>, io: CliIo): Promise<number> {
  let exitCode = 1
  await client.stream(op, input, {
    onLine: (l) => {
      const line = l as Record<string, unknown>
      if (line.stream === 'stdout') process.stdout.write(String(line.data))
      else if (line.stream === 'stderr') process.stderr.write(String(line.data))
      else if (typeof line.exitCode === 'number') {
        exitCode = line.exitCode
        if (line.timedOut) io.info(`tidepool: command timed out and was killed (exit ${exitCode})`)
        if (line.oomKilled) io.info('tidepool: a process was killed for exceeding the memory limit (OOM)')
      }
    },
  })
  return exitCode
}
