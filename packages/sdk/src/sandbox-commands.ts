/** @module sandbox-commands — `sbx.commands`: run, background handles, list and kill (E2B-shaped). */
import { ApiError, isApiError } from './api-error.js'
import type { Client, StreamEnd, StreamLine, StreamOptions } from './client.js'
import type { CommandInfo, ExecResult } from './contract/sandbox.js'

/**
 * What a finished command gives back: `exitCode`, `stdout`, `stderr`, plus `durationMs`, `timedOut`,
 * `oomKilled`, `truncated` (output beyond the cap: head and tail were kept) and the byte totals.
 */
export type CommandResult = ExecResult

/** Options of {@link Commands.run}. */
export interface RunOptions {
  /** Working directory inside the sandbox (absolute). */
  cwd?: string
  /** Environment variables for this command, on top of the sandbox's. */
  envs?: Record<string, string>
  /** `'user'` (default, uid 1000) or `'root'` (root only inside the sandbox's user namespace). */
  user?: 'user' | 'root'
  /** Kill the whole process tree after this many ms (server default 60 000). */
  timeoutMs?: number
  /** Text written to the command's stdin, which is then closed. */
  stdin?: string
  /** Return at once with a {@link CommandHandle} instead of waiting for the exit. */
  background?: boolean
  /** A non-zero exit or a timeout snapshots the sandbox first; the result's `snapshotId` names the snapshot. */
  snapshotOnFailure?: boolean
  /**
   * Called with each chunk of stdout as it arrives (the output is streamed as NDJSON). Return a
   * promise to slow the stream down. With `background`, streaming starts at once; `wait()` ends it.
   */
  onStdout?: (data: string) => void | Promise<void>
  /** Called with each chunk of stderr as it arrives; see `onStdout`. */
  onStderr?: (data: string) => void | Promise<void>
  /**
   * Throw {@link CommandExitError} when the exit code is not 0. Default `false`: the result is
   * returned and you check `exitCode` (E2B throws by default; tidepool does not, because a failing
   * command is an ordinary outcome for agents and test runners).
   */
  throwOnError?: boolean
  /** Characters of stdout (and of stderr) kept in a streamed result; beyond it the first and last
   * halves are kept and `truncated` is set. The callbacks still see everything. Default 8 Mi. */
  outputLimit?: number
  /** Abort the HTTP request. The server ends a streamed command (its whole process tree) when its
   * client goes away; for a command that should outlive the call, use `background: true`. */
  signal?: AbortSignal
  /** Time limit of the HTTP request in ms. Default: the command's timeout plus 30 s when buffered;
   * when streaming, it bounds only the wait for the response to start. */
  requestTimeoutMs?: number
}

const DEFAULT_COMMAND_TIMEOUT_MS = 60_000
const REQUEST_MARGIN_MS = 30_000
const DEFAULT_OUTPUT_LIMIT = 8 * 1024 * 1024
/** Longer commands stream even without callbacks: a buffered answer only starts when the command
 * ends, and Node's fetch (undici) gives up waiting for response headers after 300 s. */
const STREAM_ABOVE_MS = 240_000

/** Thrown by `run()` / `wait()` with `throwOnError: true` when a command exits non-zero. */
export class CommandExitError extends Error {
  override readonly name = 'CommandExitError'
  constructor(readonly result: CommandResult) {
    super(
      result.timedOut
        ? `command timed out and was killed (exit code ${result.exitCode})`
        : result.oomKilled
          ? `command was OOM-killed (exit code ${result.exitCode}); raise resources.memoryMb`
          : `command exited with code ${result.exitCode}${result.stderr ? `: ${tail(result.stderr, 500)}` : ''}`,
    )
  }
  get exitCode(): number {
    return this.result.exitCode
  }
  get stdout(): string {
    return this.result.stdout
  }
  get stderr(): string {
    return this.result.stderr
  }
}

/** A command started with `background: true` (or found with `commands.connect`). */
export class CommandHandle {
  #waiting: Promise<CommandResult> | undefined

  /** @internal Use `sbx.commands.run(cmd, { background: true })` or `sbx.commands.connect(pid)`. */
  constructor(
    private readonly client: Client,
    /** The sandbox the command runs in. */
    readonly sandboxId: string,
    /** tidepool's handle of the command, stable for the sandbox's life. */
    readonly pid: number,
    private readonly opts: Pick<RunOptions, 'onStdout' | 'onStderr' | 'throwOnError' | 'outputLimit' | 'signal'> = {},
  ) {
    // With callbacks the user expects output as it happens, not only once they call wait().
    if (opts.onStdout || opts.onStderr) this.#start().catch(() => {})
  }

  /**
   * Wait for the command to end and get its result (with callbacks, the output keeps streaming to them
   * until then). Repeated calls share one request.
   */
  async wait(): Promise<CommandResult> {
    const result = await this.#start()
    if (this.opts.throwOnError && result.exitCode !== 0) throw new CommandExitError(result)
    return result
  }

  /** Kill the command and every process it started. `false` if it was not found. */
  async kill(): Promise<boolean> {
    return killCommand(this.client, this.sandboxId, this.pid)
  }

  // Always streamed: a background command may run for hours, longer than any fetch waits for headers.
  #start(): Promise<CommandResult> {
    this.#waiting ??= streamed((o) => this.client.stream('waitCommand', { id: this.sandboxId, pid: this.pid }, o), this.opts)
    return this.#waiting
  }
}

/** `sbx.commands`: run commands in the sandbox. */
export class Commands {
  /** @internal Reached as `sbx.commands`. */
  constructor(
    private readonly client: Client,
    private readonly sandboxId: string,
  ) {}

  /**
   * Run a command: a string runs with `/bin/sh -c`, an array is an argv. Resolves when it ends with
   * `{ exitCode, stdout, stderr, … }`; a non-zero exit is returned, not thrown, unless
   * `throwOnError: true`. With `background: true` resolves at once to a {@link CommandHandle}.
   * Output streams (NDJSON) when `onStdout`/`onStderr` are given or `timeoutMs` exceeds 4 minutes;
   * otherwise the server buffers it (with its own head+tail cap, flagged `truncated`).
   *
   * ```ts
   * const r = await sbx.commands.run('uname -a && id', { onStdout: (d) => process.stdout.write(d) })
   * const server = await sbx.commands.run(['python3', '-m', 'http.server'], { background: true })
   * await server.kill()
   * ```
   */
  run(cmd: string | string[], opts: RunOptions & { background: true }): Promise<CommandHandle>
  run(cmd: string | string[], opts?: RunOptions & { background?: false }): Promise<CommandResult>
  run(cmd: string | string[], opts?: RunOptions): Promise<CommandResult | CommandHandle>
  async run(cmd: string | string[], opts: RunOptions = {}): Promise<CommandResult | CommandHandle> {
    const input = {
      id: this.sandboxId,
      cmd,
      cwd: opts.cwd,
      envs: opts.envs,
      user: opts.user,
      stdin: opts.stdin,
      timeoutMs: opts.timeoutMs,
      snapshotOnFailure: opts.snapshotOnFailure,
    }
    if (opts.background) {
      const started = await this.client.exec({ ...input, background: true }, { signal: opts.signal, timeoutMs: opts.requestTimeoutMs ?? REQUEST_MARGIN_MS })
      if (!('pid' in started)) throw unexpected('exec with background: true', started)
      return new CommandHandle(this.client, this.sandboxId, started.pid, opts)
    }
    let result: CommandResult
    if (opts.onStdout || opts.onStderr || (opts.timeoutMs ?? 0) > STREAM_ABOVE_MS) {
      result = await streamed((o) => this.client.stream('exec', input, o), opts)
    } else {
      const requestTimeout = opts.requestTimeoutMs ?? (opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS) + REQUEST_MARGIN_MS
      const done = await this.client.exec(input, { signal: opts.signal, timeoutMs: requestTimeout })
      if (!('stdout' in done)) throw unexpected('exec', done)
      result = done
    }
    if (opts.throwOnError && result.exitCode !== 0) throw new CommandExitError(result)
    return result
  }

  /** Commands started in this sandbox, running or exited. */
  async list(): Promise<CommandInfo[]> {
    return (await this.client.listCommands({ id: this.sandboxId })).items
  }

  /** Kill a command (and every process it started) by pid. `false` if there is no such command. */
  async kill(pid: number): Promise<boolean> {
    return killCommand(this.client, this.sandboxId, pid)
  }

  /** A handle to a command started earlier (e.g. by another process), to wait for or kill it. */
  async connect(pid: number, opts: Pick<RunOptions, 'onStdout' | 'onStderr' | 'throwOnError' | 'outputLimit' | 'signal'> = {}): Promise<CommandHandle> {
    return new CommandHandle(this.client, this.sandboxId, pid, opts)
  }
}

async function killCommand(client: Client, id: string, pid: number): Promise<boolean> {
  try {
    await client.killCommand({ id, pid })
    return true
  } catch (err) {
    if (isApiError(err, 'not_found')) return false
    throw err
  }
}

/** Run a streaming op, feeding the callbacks and keeping (capped) output for the result. */
export async function streamed(
  start: (o: StreamOptions) => Promise<StreamEnd>,
  opts: Pick<RunOptions, 'onStdout' | 'onStderr' | 'outputLimit' | 'signal' | 'requestTimeoutMs'>,
): Promise<CommandResult> {
  const limit = opts.outputLimit ?? DEFAULT_OUTPUT_LIMIT
  const out = new HeadTail(limit)
  const err = new HeadTail(limit)
  const onLine = async (line: StreamLine) => {
    if (!('stream' in line)) return
    if (line.stream === 'stdout') {
      out.push(line.data)
      await opts.onStdout?.(line.data)
    } else {
      err.push(line.data)
      await opts.onStderr?.(line.data)
    }
  }
  const end = await start({ onLine, signal: opts.signal, timeoutMs: opts.requestTimeoutMs ?? REQUEST_MARGIN_MS })
  const { stdout: _o, stderr: _e, ...rest } = end as StreamEnd & { stdout?: unknown; stderr?: unknown }
  return { ...rest, stdout: out.text(), stderr: err.text(), truncated: Boolean(end.truncated) || out.truncated || err.truncated }
}

/** Keeps the first and last `limit / 2` characters of a stream of chunks. */
export class HeadTail {
  #head = ''
  #tail: string[] = []
  #tailLength = 0
  truncated = false

  constructor(private readonly limit: number) {}

  push(chunk: string): void {
    const half = Math.floor(this.limit / 2)
    if (!this.truncated && this.#head.length + chunk.length <= this.limit) {
      this.#head += chunk
      return
    }
    if (!this.truncated) {
      this.truncated = true
      const cut = safeCut(this.#head, half)
      chunk = this.#head.slice(cut) + chunk
      this.#head = this.#head.slice(0, cut)
    }
    this.#tail.push(chunk)
    this.#tailLength += chunk.length
    const keep = this.limit - half
    while (this.#tailLength > keep) {
      const first = this.#tail[0] ?? ''
      const drop = this.#tailLength - keep
      if (first.length <= drop) {
        this.#tail.shift()
        this.#tailLength -= first.length
      } else {
        const cut = safeCut(first, drop, true)
        this.#tail[0] = first.slice(cut)
        this.#tailLength -= cut
      }
    }
  }

  text(): string {
    return this.#head + this.#tail.join('')
  }
}

/** `at`, moved so the cut does not split a UTF-16 surrogate pair (forward when dropping a prefix). */
function safeCut(s: string, at: number, forward = false): number {
  const code = s.charCodeAt(at - 1)
  if (at > 0 && at < s.length && code >= 0xd800 && code <= 0xdbff) return forward ? at + 1 : at - 1
  return at
}

function unexpected(what: string, got: unknown): ApiError {
  return new ApiError('internal', `${what}: unexpected response from the server: ${JSON.stringify(got)?.slice(0, 200)}`)
}

function tail(s: string, n: number): string {
  const t = s.trimEnd()
  return t.length > n ? `…${t.slice(-n)}` : t
}
