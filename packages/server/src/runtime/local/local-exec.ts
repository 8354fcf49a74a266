/** @module runtime/local/local-exec — one command inside a sandbox: a connection to the exec server, its exec cgroup, timeout and kill. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { constants } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import { Readable, Writable } from 'node:stream'
import type { ExecExit, ExecHandle, ExecRequest, RuntimeRef } from '../runtime.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { FrameDecoder, frame, requestFrame, resizeFrame, signalFrame } from './exec-protocol.js'
import type { ServerFrame } from './exec-protocol.js'
import { dialExec } from './exec-socket.js'
import { isRunning } from './proc.js'
import { RuntimeError, execStartError, messageOf } from './runtime-error.js'
import { USER_UID } from './template-root.js'

const MAX_TIMER_MS = 2 ** 31 - 1
/** The handler enforces the timeout; ours fires this much later, only should the handler not. */
const TIMEOUT_BACKSTOP_MS = 2000
/** After kill(), how long the handler gets to report before the connection is dropped. */
const KILL_GRACE_MS = 5000
const MAX_TAG_BYTES = 4096

export interface ExecDeps {
  cgroups: Cgroups
  /** The sandbox's exec socket (its supervisor listens there). */
  socketPath: string
  /**
   * A connection the request was already sent on (a one-shot sandbox's socketpair, runOnce): used
   * instead of dialing socketPath.
   */
  connected?: Socket
  /** Where detached commands keep their tag and exit status (`<sandbox dir>/execs`). */
  execsDir: string
  /** Exec cgroup names of this sandbox with a live handle in this process (adopt skips them). */
  live: Set<string>
}

/** The files of a detached command: its tag (written at start) and its exit status (by the handler). */
export function execFiles(execsDir: string, cgroup: string): { tag: string; status: string } {
  return { tag: join(execsDir, `${cgroup}.tag`), status: join(execsDir, `${cgroup}.exit`) }
}

/**
 * Starts `req.cmd` in the sandbox. The command joins a fresh exec cgroup before it does anything else,
 * so timeout and kill() end its whole tree (cgroup.kill, or SIGKILL pid by pid on pure v1 hosts). The
 * sandbox's supervisor forks a handler per exec; the handler stays outside that cgroup, forks the
 * command into it, relays its stdio over the connection and reports its exit status.
 * Like E2B, a command's lifetime ends with its main process: whatever it left running in the
 * background is killed when it exits, so wait() means "nothing of this command runs any more".
 */
export function startExec(deps: ExecDeps, ref: RuntimeRef, req: ExecRequest): ExecHandle {
  checkExecRequest(req)
  if (!isRunning(ref.pid, ref.startTime)) throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its init, pid ${ref.pid}, is gone)`)
  const p = prepareExec(deps, ref.id, req)
  return new LocalExec(deps, ref, p.cgroup, p.request, p.oomBefore, req.timeoutMs, p.files)
}

/** An exec checked and made ready to send: its cgroup made, its request frame (and the files of a detached one). */
export interface PreparedExec {
  cgroup: string
  request: Buffer
  oomBefore: number
  files: { tag: string; status: string } | undefined
}

/** The checks of an exec and what it needs before it is sent (its exec cgroup); nothing is left when it throws. */
export function prepareExec(deps: ExecDeps, id: string, req: ExecRequest): PreparedExec {
  const { cwd, uid } = checkExecRequest(req)
  const { cgroups } = deps
  // Read when the previous command ended: a kill since then (by anything in the sandbox) counts for this one.
  const oomBefore = cgroups.lastOomKills(id)
  const cg = cgroups.createExec(id)
  const files = req.detached ? execFiles(deps.execsDir, cg.name) : undefined
  let request: Buffer
  try {
    // The env travels in the request, never in an argv (host `ps` shows argv).
    request = requestFrame({
      uid,
      gid: uid,
      cwd,
      cloneInto: cg.cloneInto ?? '',
      cgroupProcs: cg.procs,
      cmd: req.cmd,
      env: req.env,
      timeoutMs: req.timeoutMs,
      detached: Boolean(req.detached),
      statusFile: files?.status ?? '',
      pty: req.pty,
    })
  } catch (err) {
    cgroups.removeExec(id, cg.name)
    throw new RuntimeError('invalid_request', messageOf(err), { cause: err })
  }
  if (files) {
    try {
      mkdirSync(deps.execsDir, { recursive: true, mode: 0o700 })
      writeFileSync(files.tag, req.tag ?? '', { mode: 0o600 })
    } catch (err) {
      cgroups.removeExec(id, cg.name)
      throw new RuntimeError('internal', `could not record the command in sandbox ${id}: ${messageOf(err)}`, { cause: err })
    }
  }
  deps.live.add(cg.name)
  return { cgroup: cg.name, request, oomBefore, files }
}

/** The checks of an exec request that need no sandbox (pure): its cwd and host-side uid. */
export function checkExecRequest(req: ExecRequest): { cwd: string; uid: number } {
  if (!Array.isArray(req.cmd) || req.cmd.length === 0 || req.cmd[0] === '') {
    throw new RuntimeError('invalid_request', 'cmd must be a non-empty argv array (got an empty command)')
  }
  if (req.user !== 'user' && req.user !== 'root') throw new RuntimeError('invalid_request', `user must be 'user' or 'root' (got ${JSON.stringify(req.user)})`)
  const cwd = req.cwd ?? defaultCwd(req.user)
  if (!cwd.startsWith('/')) throw new RuntimeError('invalid_request', `cwd must be an absolute path inside the sandbox (got ${JSON.stringify(cwd)})`)
  if (req.tag !== undefined && Buffer.byteLength(req.tag) > MAX_TAG_BYTES)
    throw new RuntimeError('invalid_request', `an exec tag is at most ${MAX_TAG_BYTES} bytes (got ${Buffer.byteLength(req.tag)})`)
  return { cwd, uid: req.user === 'root' ? 0 : USER_UID }
}

/** The handle of a prepared exec whose request already went out on `deps.connected` (runOnce). */
export function connectedExec(deps: ExecDeps & { connected: Socket }, ref: RuntimeRef, p: PreparedExec, timeoutMs: number): ExecHandle {
  return new LocalExec(deps, ref, p.cgroup, p.request, p.oomBefore, timeoutMs, p.files)
}

type Outcome = { code: number } | { report: string } | { lost: Error | undefined }

class LocalExec implements ExecHandle {
  readonly stdin: Writable
  readonly stdout: Readable
  readonly stderr: Readable
  readonly #deps: ExecDeps
  readonly #ref: RuntimeRef
  readonly #id: string
  readonly #cgroup: string
  readonly #connection: Promise<Socket>
  readonly #done: Promise<ExecExit>
  readonly #files: { tag: string; status: string } | undefined
  #socket: Socket | undefined
  /** After kill(): output is read and dropped, so a full stream nobody reads cannot stall the handler. */
  #discard = false
  #settled = false
  #timedOut = false
  #killed = false
  #timer: NodeJS.Timeout | undefined

  constructor(deps: ExecDeps, ref: RuntimeRef, cgroup: string, request: Buffer, oomBefore: number, timeoutMs: number, files?: { tag: string; status: string }) {
    this.#deps = deps
    this.#files = files
    this.#ref = ref
    this.#id = ref.id
    this.#cgroup = cgroup
    const started = performance.now()
    // Output flows with backpressure: a full stdout or stderr stops reading the connection, which
    // stops the handler reading the command's pipes, which blocks the command.
    const resume = () => this.#socket?.resume()
    this.stdout = new Readable({ read: resume })
    this.stderr = new Readable({ read: resume })
    this.#connection = (deps.connected ? Promise.resolve(deps.connected) : dialExec(deps.socketPath)).then((socket) => {
      if (deps.connected) return socket // the request went out with the start
      this.#socket = socket
      // One write for the request and what follows in the same tick (usually the end of stdin).
      socket.cork()
      socket.write(request)
      process.nextTick(() => socket.uncork())
      return socket
    })
    this.#connection.catch(() => {}) // reported through wait()
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.#connection.then(
          (s) => (s.writable ? s.write(frame('i', chunk), () => cb()) : cb()),
          () => cb(),
        )
      },
      final: (cb) => {
        this.#connection.then(
          (s) => (s.writable ? s.write(frame('e'), () => cb()) : cb()),
          () => cb(),
        )
      },
    })
    // A command that exits without reading its stdin: not an error of ours.
    this.stdin.on('error', () => {})
    // The handler kills the tree at the deadline itself (also when this process is gone); this timer
    // is only the backstop should it not.
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.#timer = setTimeout(
        () => {
          this.#timedOut = true
          void this.#killTree()
        },
        Math.min(timeoutMs + TIMEOUT_BACKSTOP_MS, MAX_TIMER_MS),
      )
      this.#timer.unref()
    }
    this.#done = this.#finish(this.#relay(), started, oomBefore)
    this.#done.catch(() => {}) // reported through wait(); never an unhandled rejection
  }

  wait(): Promise<ExecExit> {
    return this.#done
  }

  signal(signal: number): void {
    this.#control(signalFrame(signal))
  }

  resize(cols: number, rows: number): void {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 65535 || rows > 65535)
      throw new RuntimeError('invalid_request', `a pty is 1..65535 columns by 1..65535 rows (got ${cols}x${rows})`)
    this.#control(resizeFrame(cols, rows))
  }

  /** A control frame, in order with stdin (the handler reads one frame at a time); dropped once the command ended. */
  #control(f: Buffer): void {
    if (this.#settled) return
    void this.#connection.then(
      (s) => void (s.writable && s.write(f)),
      () => {},
    )
  }

  async kill(): Promise<void> {
    if (this.#settled) return
    if (!this.#timedOut) this.#killed = true
    // Nobody wants the output any more: drain and drop it, so the handler (which may be blocked on a
    // full connection) gets to the end and reports; and never wait for it forever.
    this.#discard = true
    this.#socket?.resume()
    const grace = setTimeout(() => this.#socket?.destroy(), KILL_GRACE_MS)
    grace.unref()
    try {
      await this.#killTree()
      await this.#done.catch(() => {})
    } finally {
      clearTimeout(grace)
    }
  }

  async #killTree(): Promise<void> {
    if (this.#settled) return
    // Only the command's cgroup: the handler (outside it) reaps the command and reports its end.
    await this.#deps.cgroups.killExec(this.#id, this.#cgroup)
  }

  /** Feeds the server's frames into stdout and stderr; resolves with how the command ended. */
  async #relay(): Promise<Outcome> {
    let socket: Socket
    try {
      socket = await this.#connection
    } catch (err) {
      return { lost: err as Error }
    }
    return new Promise<Outcome>((resolve) => {
      const decoder = new FrameDecoder()
      let error: Error | undefined
      const end = (outcome: Outcome) => {
        this.stdout.push(null)
        this.stderr.push(null)
        resolve(outcome)
        socket.destroy() // the handler waits for this before it exits
      }
      const take = (f: ServerFrame) => {
        if (f.type === 'exit') {
          if (f.timedOut) this.#timedOut = true
          end({ code: f.code })
        } else if (f.type === 'error') end({ report: f.report })
        else if (!this.#discard && !(f.type === 'stdout' ? this.stdout : this.stderr).push(f.data)) socket.pause()
      }
      socket.on('data', (chunk: Buffer) => {
        try {
          for (const f of decoder.push(chunk)) take(f)
        } catch (err) {
          error = err as Error
          socket.destroy()
        }
      })
      socket.on('error', (err) => (error ??= err))
      socket.once('close', () => end({ lost: error })) // a second resolve is a no-op
    })
  }

  async #finish(relayed: Promise<Outcome>, started: number, oomBefore: number): Promise<ExecExit> {
    const { cgroups } = this.#deps
    try {
      const outcome = await relayed
      const durationMs = performance.now() - started
      // The handler has killed what the command left and removed its cgroup; this is the backstop for
      // a handler that could not (it died, or the connection was lost first). No cgroup is kept.
      if (this.#timedOut || this.#killed || !cgroups.execEmpty(this.#id, this.#cgroup)) await cgroups.killExec(this.#id, this.#cgroup)
      else cgroups.removeExec(this.#id, this.#cgroup)
      // Destroyed under our feet (e.g. fork fails in a dying pid namespace): killed like everything in it.
      // (A command that ran to its end reports its own code; only then is the check not needed.)
      const interrupted = this.#timedOut || this.#killed || (!('code' in outcome) && !isRunning(this.#ref.pid, this.#ref.startTime))
      if ('report' in outcome && !interrupted) throw execStartError(this.#id, outcome.report)
      if ('lost' in outcome && !interrupted) {
        const code = (outcome.lost as NodeJS.ErrnoException | undefined)?.code
        if (code === 'ECONNREFUSED' || code === 'ENOENT') {
          throw new RuntimeError('conflict', `sandbox ${this.#id} was lost: its supervisor exited (its exec socket refuses connections: ${code}); create a new one`, { cause: outcome.lost })
        }
        // The exec server refused (no handler could be forked) and closed before its answer was read.
        if ((code === 'EPIPE' || code === 'ECONNRESET') && pidsFull(cgroups, this.#id)) {
          throw new RuntimeError('conflict', `could not start the command in sandbox ${this.#id}: the sandbox's pids limit is reached; end some of its processes or raise resources.pids`, {
            cause: outcome.lost,
          })
        }
        const why = outcome.lost ? messageOf(outcome.lost) : 'the connection closed before the command ended'
        throw new RuntimeError('internal', `lost the command in sandbox ${this.#id}: ${why}`, { cause: outcome.lost })
      }
      const exitCode = interrupted || !('code' in outcome) ? 128 + constants.signals.SIGKILL : outcome.code
      return {
        exitCode,
        timedOut: this.#timedOut,
        oomKilled: cgroups.oomKills(this.#id) > oomBefore,
        killed: this.#killed && !this.#timedOut,
        durationMs,
      }
    } finally {
      this.#settled = true
      clearTimeout(this.#timer)
      this.#socket?.destroy()
      this.#deps.live.delete(this.#cgroup)
      if (this.#files) for (const f of [this.#files.tag, this.#files.status]) rmSync(f, { force: true })
    }
  }
}

/** True when the sandbox has no pid to spare (or its cgroups are gone). */
function pidsFull(cgroups: Cgroups, id: string): boolean {
  try {
    const s = cgroups.stats(id)
    return s.pids >= s.pidsLimit - 1
  } catch {
    return false
  }
}

/** Where a command runs when its request names no cwd: the user's home ('/' for root). */
export function defaultCwd(user: string): string {
  return user === 'root' ? '/' : '/home/user'
}
