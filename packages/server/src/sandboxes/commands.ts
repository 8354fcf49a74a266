/** @module sandboxes/commands — exec: buffered, streamed (NDJSON) and background commands, with head+tail output caps. */
import { StringDecoder } from 'node:string_decoder'
import type { CommandInfo, ExecResult, Principal, StreamLine } from '@tidepool/sdk'
import { systemActors } from '../audit/system-actor.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError, notFound } from '../core/errors.js'
import type { ExecExit, ExecHandle, ExecRequest, Runtime } from '../runtime/runtime.js'
import type { EventLog } from '../kit/events.js'
import { OutputBuffer } from './output-buffer.js'
import { recordExit } from './exec-events.js'
import { snapshotOnFailure } from './snapshot-on-failure.js'
import { execEnv, isTemplateStart } from './template-start.js'
import type { LiveSandbox, SandboxService } from './sandboxes.js'

export interface ExecOptions {
  cmd: string[] | string
  cwd?: string | undefined
  envs?: Record<string, string> | undefined
  /** Default: the template's user, else 'user'. */
  user?: 'user' | 'root' | undefined
  stdin?: string | Uint8Array | undefined
  timeoutMs: number
  /** A background command's stdin stays open for writeStdin (stdin, if given, is written first). */
  keepStdin?: boolean | undefined
  /** A non-zero exit or a timeout snapshots the sandbox before the result returns (buffered and streamed exec). */
  snapshotOnFailure?: boolean | undefined
}

/** A command started with background: true, kept until the sandbox ends. */
interface Background {
  info: CommandInfo
  handle: ExecHandle
  stdout: OutputBuffer
  stderr: OutputBuffer
  /** Chunks since start, for streaming waiters, in order; kept only up to the cap. */
  listeners: Set<(line: StreamLine) => void>
  done: Promise<ExecResult>
  /** Started with keepStdin and not closed yet. */
  stdinOpen: boolean
}

export class CommandService {
  #background = new Map<string, Map<number, Background>>()
  #nextPid = new Map<string, number>()

  constructor(private readonly deps: { runtime: Runtime; sandboxes: SandboxService; events: EventLog; config: Config; clock: Clock }) {}

  /** The runtime request of a command in `sbx` (argv, user, cwd and env from its defaults and envs). */
  request(sbx: Omit<LiveSandbox, 'ref'>, o: ExecOptions): ExecRequest {
    const argv = typeof o.cmd === 'string' ? ['/bin/sh', '-c', o.cmd] : o.cmd
    const user = o.user ?? sbx.defaults.user ?? 'user'
    const base = execEnv(sbx.row.id, user)
    const home = base.HOME!
    const env = { ...base, ...sbx.envs, ...o.envs }
    return { cmd: argv, cwd: o.cwd ?? sbx.defaults.cwd ?? home, env, user, timeoutMs: o.timeoutMs }
  }

  /** Starts a command; the caller consumes the handle (buffered, streamed or background). */
  async #start(p: Principal, id: string, o: ExecOptions, background?: (argv: string[]) => string): Promise<{ sbx: LiveSandbox; handle: ExecHandle; argv: string[] }> {
    const sbx = await this.deps.sandboxes.live(p, id)
    const req = this.request(sbx, o)
    let handle: ExecHandle
    try {
      // A background command is detached: it survives a crash of this process, and its tag lets a
      // restarted one list it again (with its pid); the runtime enforces every timeout by itself.
      const detached = background ? { detached: true, tag: background(req.cmd) } : {}
      handle = this.deps.runtime.exec(sbx.ref, { ...req, ...detached })
    } catch (err) {
      throw await this.deps.sandboxes.explainLost(p, id, err)
    }
    feedStdin(handle, o, Boolean(background))
    return { sbx, handle, argv: req.cmd }
  }

  /** Buffered exec: waits for the whole tree, returns capped head+tail output. */
  async run(p: Principal, id: string, o: ExecOptions): Promise<ExecResult> {
    const { sbx, handle, argv } = await this.#start(p, id, o)
    return this.#buffered(p, sbx, handle, argv, o)
  }

  /** run, for a command the runtime started with its sandbox (a one-shot run, Runtime.runOnce). */
  runStarted(p: Principal, sbx: LiveSandbox, handle: ExecHandle, o: ExecOptions): Promise<ExecResult> {
    feedStdin(handle, o, false)
    return this.#buffered(p, sbx, handle, this.request(sbx, o).cmd, o)
  }

  /** stream, for a command the runtime started with its sandbox (a one-shot run, Runtime.runOnce). */
  streamStarted(p: Principal, sbx: LiveSandbox, handle: ExecHandle, o: ExecOptions, signal?: AbortSignal): AsyncGenerator<StreamLine> {
    feedStdin(handle, o, false)
    return this.#streamed(p, sbx, handle, this.request(sbx, o).cmd, o, signal)
  }

  async #buffered(p: Principal, sbx: LiveSandbox, handle: ExecHandle, argv: string[], o: ExecOptions): Promise<ExecResult> {
    const id = sbx.row.id
    const out = new OutputBuffer(this.deps.config.exec.outputCapBytes)
    const err = new OutputBuffer(this.deps.config.exec.outputCapBytes)
    handle.stdout.on('data', (c: Buffer) => out.push(c))
    handle.stderr.on('data', (c: Buffer) => err.push(c))
    const exit = await waitAll(handle)
    const result = await this.#snapshotOnFailure(p, id, o, argv, toResult(exit, out, err))
    // The audit record (written by dispatch) is the durable trace of an exec; its event is derived data,
    // written off the response's critical path (a millisecond per exec matters to agents in a loop).
    this.#recordExitLater(p, sbx, argv, result)
    return result
  }

  /** Raw bytes of stdout (for the files service): no cap beyond `maxBytes`, which fails loudly. */
  async runBytes(p: Principal, id: string, o: ExecOptions, maxBytes: number): Promise<{ exit: ExecExit; stdout: Buffer; stderr: string }> {
    const { handle } = await this.#start(p, id, o)
    const chunks: Buffer[] = []
    let size = 0
    let tooBig = false
    const err = new OutputBuffer(64 * 1024)
    handle.stdout.on('data', (c: Buffer) => {
      size += c.length
      if (size > maxBytes) {
        if (!tooBig) void handle.kill()
        tooBig = true
      } else chunks.push(c)
    })
    handle.stderr.on('data', (c: Buffer) => err.push(c))
    const exit = await waitAll(handle)
    if (tooBig) throw new AppError('payload_too_large', `file is larger than ${maxBytes} bytes; read it in parts with exec (e.g. head -c / tail -c)`)
    return { exit, stdout: Buffer.concat(chunks), stderr: err.text() }
  }

  /** Streamed exec: yields {pid}, then output chunks as they come (with backpressure), then the result line. */
  async *stream(p: Principal, id: string, o: ExecOptions, signal?: AbortSignal): AsyncGenerator<StreamLine> {
    const { sbx, handle, argv } = await this.#start(p, id, o)
    yield* this.#streamed(p, sbx, handle, argv, o, signal)
  }

  async *#streamed(p: Principal, sbx: LiveSandbox, handle: ExecHandle, argv: string[], o: ExecOptions, signal?: AbortSignal): AsyncGenerator<StreamLine> {
    const id = sbx.row.id
    // The client going away ends the command: nobody would see its output, and nothing may keep running.
    const onAbort = () => void handle.kill()
    signal?.addEventListener('abort', onAbort, { once: true })
    const out = { total: 0 }
    const err = { total: 0 }
    // One decoder per stream: a multi-byte character split across two reads stays whole.
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') }
    try {
      for await (const [stream, chunk] of merge(handle)) {
        ;(stream === 'stdout' ? out : err).total += chunk.length
        const data = decoders[stream].write(chunk)
        if (data) yield { stream, data }
      }
      for (const stream of ['stdout', 'stderr'] as const) {
        const rest = decoders[stream].end()
        if (rest) yield { stream, data: rest }
      }
      const exit = await waitAll(handle)
      const result = await this.#snapshotOnFailure(p, id, o, argv, { ...toResult(exit, undefined, undefined), stdoutBytes: out.total, stderrBytes: err.total })
      const { stdout: _o, stderr: _e, ...line } = result
      await this.#recordExit(p, sbx, argv, result)
      yield line
    } finally {
      signal?.removeEventListener('abort', onAbort)
      await handle.kill() // no-op after a normal exit; ends the tree if the consumer stopped early
    }
  }

  async startBackground(p: Principal, id: string, o: ExecOptions): Promise<CommandInfo> {
    const pid = (this.#nextPid.get(id) ?? 0) + 1
    this.#nextPid.set(id, pid)
    const startedAt = iso(this.deps.clock.now())
    const { sbx, handle, argv } = await this.#start(p, id, o, (cmd) => JSON.stringify({ pid, cmd: cmd.slice(0, 64).map((a) => a.slice(0, 256)), startedAt, actor: p.tokenId }))
    const info = this.#track(p, sbx, handle, { pid, cmd: argv, state: 'running', startedAt }, o.snapshotOnFailure)
    if (o.keepStdin) this.#get(id, pid).stdinOpen = true
    return info
  }

  /** Writes to the stdin of a background command started with keepStdin (waits until the pipe took it); eof closes it. */
  async writeStdin(id: string, pid: number, data: Uint8Array, eof: boolean): Promise<CommandInfo> {
    const bg = this.#get(id, pid)
    if (!bg.stdinOpen) throw new AppError('conflict', `the stdin of command ${pid} is closed (or it was started without keepStdin: true)`)
    if (bg.info.state !== 'running') throw new AppError('conflict', `command ${pid} has exited; its stdin is gone`)
    const stdin = bg.handle.stdin
    // A command that exits mid-write closes the pipe: that ends the wait too (the write's error is ignored, as at start).
    if (data.byteLength) await new Promise<void>((resolve) => (stdin.write(data) ? resolve() : (stdin.once('drain', resolve), stdin.once('close', resolve))))
    if (eof) {
      bg.stdinOpen = false
      stdin.end()
    }
    return bg.info
  }

  /**
   * After a restart: the commands still running in an adopted sandbox. Background ones are listed again
   * under their pid (wait and kill work; output printed while the server was down is gone); foreground
   * ones lost their caller and were killed by the runtime: each gets a `command_killed` event.
   */
  async adopt(sbx: LiveSandbox): Promise<{ background: number; killed: number }> {
    const counts = { background: 0, killed: 0 }
    const system = { tokenId: systemActors.reconcile } as Principal
    for (const found of await this.deps.runtime.adopt(sbx.ref)) {
      // A template's start command (template-start.ts) is the sandbox's own: it keeps running, unlisted.
      if (found.detached && isTemplateStart(found.tag)) continue
      const tag = parseTag(found.tag)
      if (!found.detached || !tag) {
        counts.killed++
        await this.deps.events.emit({
          project: sbx.row.project,
          sandboxId: sbx.row.id,
          kind: 'command_killed',
          actor: systemActors.reconcile,
          data: { reason: 'caller_gone', detail: 'the server restarted while the command ran; nobody was left to receive its result' },
        })
        continue
      }
      counts.background++
      this.#nextPid.set(sbx.row.id, Math.max(this.#nextPid.get(sbx.row.id) ?? 0, tag.pid))
      this.#track({ ...system, tokenId: tag.actor ?? system.tokenId }, sbx, found.handle, { pid: tag.pid, cmd: tag.cmd, state: 'running', startedAt: tag.startedAt })
    }
    return counts
  }

  #track(p: Principal, sbx: LiveSandbox, handle: ExecHandle, info: CommandInfo, snapshotOnFailure?: boolean): CommandInfo {
    const id = sbx.row.id
    const { pid, cmd: argv } = info
    const cap = this.deps.config.exec.outputCapBytes
    const bg: Background = {
      info,
      handle,
      stdout: new OutputBuffer(cap),
      stderr: new OutputBuffer(cap),
      listeners: new Set(),
      stdinOpen: false,
      // Settles after this function returned, so `bg` is there by then.
      done: waitAll(handle).then(async (exit) => {
        // A background command killed by its sandbox's end (or a reset) is not a failure worth a capture.
        const result = exit.killed ? toResult(exit, bg.stdout, bg.stderr) : await this.#snapshotOnFailure(p, id, { snapshotOnFailure }, argv, toResult(exit, bg.stdout, bg.stderr))
        bg.info = { ...bg.info, state: 'exited', exitCode: result.exitCode }
        await this.#recordExit(p, sbx, argv, result).catch((err: unknown) => this.#logLost(err, id))
        return result
      }),
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      const decoder = new StringDecoder('utf8')
      handle[stream].on('data', (c: Buffer) => {
        bg[stream].push(c)
        const data = decoder.write(c)
        if (data) for (const l of bg.listeners) l({ stream, data })
      })
    }
    let byPid = this.#background.get(id)
    if (!byPid) this.#background.set(id, (byPid = new Map()))
    byPid.set(pid, bg)
    return bg.info
  }

  list(id: string): CommandInfo[] {
    return [...(this.#background.get(id)?.values() ?? [])].map((b) => b.info)
  }

  async wait(id: string, pid: number): Promise<ExecResult> {
    return this.#get(id, pid).done
  }

  /** Streams what a background command printed so far (capped), then live output, then its result. */
  async *follow(id: string, pid: number): AsyncGenerator<StreamLine> {
    const bg = this.#get(id, pid)
    const queue: StreamLine[] = []
    let wake: (() => void) | undefined
    const listener = (l: StreamLine) => {
      queue.push(l)
      wake?.()
    }
    const past = [bg.stdout.bytes(), bg.stderr.bytes()]
    bg.listeners.add(listener)
    let finished = false
    void bg.done.then(() => {
      finished = true
      wake?.()
    })
    try {
      if (past[0]!.length) yield { stream: 'stdout', data: past[0]!.toString('utf8') }
      if (past[1]!.length) yield { stream: 'stderr', data: past[1]!.toString('utf8') }
      for (;;) {
        while (queue.length) yield queue.shift()!
        if (finished) break
        await new Promise<void>((r) => (wake = r))
        wake = undefined
      }
      const { stdout: _o, stderr: _e, ...line } = await bg.done
      yield line
    } finally {
      bg.listeners.delete(listener)
    }
  }

  async kill(id: string, pid: number): Promise<CommandInfo> {
    const bg = this.#get(id, pid)
    await bg.handle.kill()
    await bg.done
    return bg.info
  }

  /** The sandbox ended: its commands are gone with it. */
  forget(id: string): void {
    this.#background.delete(id)
    this.#nextPid.delete(id)
  }

  #get(id: string, pid: number): Background {
    const bg = this.#background.get(id)?.get(pid)
    if (!bg) throw notFound('command', `${pid} in sandbox ${id}`)
    return bg
  }

  #snapshotOnFailure(p: Principal, id: string, o: Pick<ExecOptions, 'snapshotOnFailure'>, argv: string[], result: ExecResult): Promise<ExecResult> {
    return snapshotOnFailure(this.deps.sandboxes.snapshots, p, id, o.snapshotOnFailure, argv, result)
  }

  #pending: Promise<unknown> = Promise.resolve()

  #recordExitLater(p: Principal, sbx: LiveSandbox, argv: string[], r: ExecResult): void {
    this.#pending = this.#pending.then(() => this.#recordExit(p, sbx, argv, r)).catch((err: unknown) => this.#logLost(err, sbx.row.id))
  }

  /** An exit event that could not be written: the command's result still reached its caller. */
  #logLost(err: unknown, id: string): void {
    this.deps.sandboxes.deps.log.warn({ err, id }, 'exec: the exit event of a command could not be recorded')
  }

  /** Resolves once every exec event queued so far is written (shutdown, tests). */
  flush(): Promise<unknown> {
    return this.#pending
  }

  #recordExit(p: Principal, sbx: LiveSandbox, argv: string[], r: ExecResult): Promise<void> {
    return recordExit(this.deps, p, sbx, argv, r)
  }
}

/** Writes a command's stdin (a background one with keepStdin keeps it open), then ends it. */
function feedStdin(handle: ExecHandle, o: ExecOptions, background: boolean): void {
  handle.stdin.on('error', () => {}) // a command that exits without reading stdin closes the pipe: not an error
  const input = o.stdin === undefined ? undefined : typeof o.stdin === 'string' ? Buffer.from(o.stdin) : o.stdin
  if (background && o.keepStdin) {
    if (input) handle.stdin.write(input)
  } else if (input) handle.stdin.end(input)
  else handle.stdin.end()
}

/** The tag startBackground gave a detached command, or undefined when it is not one of ours. */
function parseTag(text: string | undefined): { pid: number; cmd: string[]; startedAt: string; actor?: string } | undefined {
  if (!text) return undefined
  try {
    const t = JSON.parse(text) as { pid?: unknown; cmd?: unknown; startedAt?: unknown; actor?: unknown }
    if (!Number.isInteger(t.pid) || (t.pid as number) < 1 || !Array.isArray(t.cmd) || typeof t.startedAt !== 'string') return undefined
    return { pid: t.pid as number, cmd: t.cmd.map(String), startedAt: t.startedAt, ...(typeof t.actor === 'string' ? { actor: t.actor } : {}) }
  } catch {
    return undefined
  }
}

async function waitAll(handle: ExecHandle): Promise<ExecExit> {
  // Output must be drained before the result is final: wait for exit and both stream ends.
  const ended = (s: NodeJS.ReadableStream) =>
    new Promise<void>((r) => ((s as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded ? r() : (s.once('end', () => r()), s.once('close', () => r()))))
  const [exit] = await Promise.all([handle.wait(), ended(handle.stdout), ended(handle.stderr)])
  return exit
}

function toResult(exit: ExecExit, out: OutputBuffer | undefined, err: OutputBuffer | undefined): ExecResult {
  return {
    exitCode: exit.exitCode,
    stdout: out?.text() ?? '',
    stderr: err?.text() ?? '',
    durationMs: Math.round(exit.durationMs * 100) / 100,
    timedOut: exit.timedOut,
    oomKilled: exit.oomKilled,
    truncated: Boolean(out?.truncated || err?.truncated),
    stdoutBytes: out?.total ?? 0,
    stderrBytes: err?.total ?? 0,
  }
}

/** Interleaves stdout and stderr chunks in arrival order, pulling (so a slow reader slows the command). */
async function* merge(handle: ExecHandle): AsyncGenerator<['stdout' | 'stderr', Buffer]> {
  const its = {
    stdout: handle.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>,
    stderr: handle.stderr[Symbol.asyncIterator]() as AsyncIterator<Buffer>,
  }
  const pending = new Map<'stdout' | 'stderr', Promise<['stdout' | 'stderr', IteratorResult<Buffer>]>>()
  const pull = (s: 'stdout' | 'stderr') =>
    pending.set(
      s,
      its[s].next().then((r) => [s, r] as ['stdout' | 'stderr', IteratorResult<Buffer>]),
    )
  pull('stdout')
  pull('stderr')
  while (pending.size) {
    const [s, r] = await Promise.race(pending.values())
    if (r.done) {
      pending.delete(s)
      continue
    }
    yield [s, r.value]
    pull(s)
  }
}
