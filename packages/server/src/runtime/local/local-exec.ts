/** @module runtime/local/local-exec — one command inside a sandbox: a connection to the exec server, its exec cgroup, timeout and kill. */
import { constants } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import { Readable, Writable } from 'node:stream'
import type { ExecExit, ExecHandle, ExecRequest, RuntimeRef } from '../runtime.js'
import type { Cgroups } from './cgroups.js'
import { FrameDecoder, frame, requestFrame } from './exec-protocol.js'
import type { ServerFrame } from './exec-protocol.js'
import { dialExec } from './exec-socket.js'
import { isRunning } from './proc.js'
import type { RuntimeErrorCode } from './runtime-error.js'
import { RuntimeError, messageOf } from './runtime-error.js'
import { USER_UID } from './template-root.js'

const MAX_TIMER_MS = 2 ** 31 - 1

export interface ExecDeps {
  cgroups: Cgroups
  /** The sandbox's exec socket (its supervisor listens there). */
  socketPath: string
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
  if (!Array.isArray(req.cmd) || req.cmd.length === 0 || req.cmd[0] === '') {
    throw new RuntimeError('invalid_request', 'cmd must be a non-empty argv array (got an empty command)')
  }
  if (req.user !== 'user' && req.user !== 'root') throw new RuntimeError('invalid_request', `user must be 'user' or 'root' (got ${JSON.stringify(req.user)})`)
  const cwd = req.cwd ?? (req.user === 'root' ? '/' : '/home/user')
  if (!cwd.startsWith('/')) throw new RuntimeError('invalid_request', `cwd must be an absolute path inside the sandbox (got ${JSON.stringify(cwd)})`)
  if (!isRunning(ref.pid, ref.startTime)) throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its init, pid ${ref.pid}, is gone)`)
  const uid = req.user === 'root' ? 0 : USER_UID
  const { cgroups } = deps
  // Read when the previous command ended: a kill since then (by anything in the sandbox) counts for this one.
  const oomBefore = cgroups.lastOomKills(ref.id)
  const cg = cgroups.createExec(ref.id)
  let request: Buffer
  try {
    // The env travels in the request, never in an argv (host `ps` shows argv).
    request = requestFrame({ uid, gid: uid, cwd, cloneInto: cg.cloneInto ?? '', cgroupProcs: cg.procs, cmd: req.cmd, env: req.env })
  } catch (err) {
    cgroups.removeExec(ref.id, cg.name)
    throw new RuntimeError('invalid_request', messageOf(err), { cause: err })
  }
  return new LocalExec(deps, ref, cg.name, request, oomBefore, req.timeoutMs)
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
  #socket: Socket | undefined
  #settled = false
  #timedOut = false
  #killed = false
  #timer: NodeJS.Timeout | undefined

  constructor(deps: ExecDeps, ref: RuntimeRef, cgroup: string, request: Buffer, oomBefore: number, timeoutMs: number) {
    this.#deps = deps
    this.#ref = ref
    this.#id = ref.id
    this.#cgroup = cgroup
    const started = performance.now()
    // Output flows with backpressure: a full stdout or stderr stops reading the connection, which
    // stops the handler reading the command's pipes, which blocks the command.
    const resume = () => this.#socket?.resume()
    this.stdout = new Readable({ read: resume })
    this.stderr = new Readable({ read: resume })
    this.#connection = dialExec(deps.socketPath).then((socket) => {
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
        this.#connection.then((s) => (s.writable ? s.write(frame('i', chunk), () => cb()) : cb()), () => cb())
      },
      final: (cb) => {
        this.#connection.then((s) => (s.writable ? s.write(frame('e'), () => cb()) : cb()), () => cb())
      },
    })
    // A command that exits without reading its stdin: not an error of ours.
    this.stdin.on('error', () => {})
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.#timer = setTimeout(() => {
        this.#timedOut = true
        void this.#killTree()
      }, Math.min(timeoutMs, MAX_TIMER_MS))
      this.#timer.unref()
    }
    this.#done = this.#finish(this.#relay(), started, oomBefore)
    this.#done.catch(() => {}) // reported through wait(); never an unhandled rejection
  }

  wait(): Promise<ExecExit> {
    return this.#done
  }

  async kill(): Promise<void> {
    if (this.#settled) return
    if (!this.#timedOut) this.#killed = true
    await this.#killTree()
    await this.#done.catch(() => {})
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
        if (f.type === 'exit') end({ code: f.code })
        else if (f.type === 'error') end({ report: f.report })
        else if (!(f.type === 'stdout' ? this.stdout : this.stderr).push(f.data)) socket.pause()
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
      if (this.#timedOut || this.#killed || !cgroups.execEmpty(this.#id, this.#cgroup)) await cgroups.killExec(this.#id, this.#cgroup)
      else cgroups.releaseExec(this.#id, this.#cgroup)
      // Destroyed under our feet (e.g. fork fails in a dying pid namespace): killed like everything in it.
      // (A command that ran to its end reports its own code; only then is the check not needed.)
      const interrupted = this.#timedOut || this.#killed || (!('code' in outcome) && !isRunning(this.#ref.pid, this.#ref.startTime))
      if ('report' in outcome && !interrupted) throw reportError(this.#id, outcome.report)
      if ('lost' in outcome && !interrupted) {
        const code = (outcome.lost as NodeJS.ErrnoException | undefined)?.code
        if (code === 'ECONNREFUSED' || code === 'ENOENT') {
          throw new RuntimeError('internal', `sandbox ${this.#id} has no exec server (its supervisor died); destroy it and create a new one`, { cause: outcome.lost })
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
    }
  }
}

/** "<code>: <message>" from the exec server → RuntimeError. */
function reportError(id: string, report: string): RuntimeError {
  const m = /^(not_found|invalid_request|conflict|internal): (.*)$/s.exec(report)
  const code = (m?.[1] ?? 'internal') as RuntimeErrorCode
  const message = m?.[2] ?? report
  // The hint fits only a cwd that is not there; other refusals (a malformed request) say what they are.
  if (code === 'invalid_request') return new RuntimeError(code, /^cwd /.test(message) ? `${message} in sandbox ${id}; create it first or pick an existing directory` : `${message} in sandbox ${id}`)
  if (code === 'not_found') return new RuntimeError(code, `sandbox ${id} is not running: ${message}`)
  if (code === 'conflict') return new RuntimeError(code, `could not start the command in sandbox ${id}: ${message}`)
  return new RuntimeError(code, `could not start the command in sandbox ${id}: ${message}`)
}
