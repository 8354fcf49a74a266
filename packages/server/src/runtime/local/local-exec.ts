/** @module runtime/local/local-exec — one command inside a sandbox: the helper process, its exec cgroup, timeout and kill. */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { constants } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { Readable, Writable } from 'node:stream'
import type { ExecExit, ExecHandle, ExecRequest, RuntimeRef } from '../runtime.js'
import type { Cgroups } from './cgroups.js'
import { EXEC_SETUP_FAILED, execArgv } from './helper-args.js'
import { isRunning } from './proc.js'
import type { RuntimeErrorCode } from './runtime-error.js'
import { RuntimeError, messageOf } from './runtime-error.js'
import { USER_UID } from './template-root.js'

const STATUS_FD = 3
const MAX_TIMER_MS = 2 ** 31 - 1

export interface ExecDeps {
  cgroups: Cgroups
  helperPath: string
}

/**
 * Starts `req.cmd` in the sandbox. The command joins a fresh exec cgroup before it does anything else,
 * so timeout and kill() end its whole tree (cgroup.kill, or SIGKILL pid by pid on pure v1 hosts); the
 * helper that forked it stays outside, reaps it and reports its exit status.
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
  const oomBefore = cgroups.oomKills(ref.id)
  const cg = cgroups.createExec(ref.id)
  let child: ChildProcess
  try {
    child = spawn(deps.helperPath, execArgv({ pid: ref.pid, cgroupProcs: cg.procs, uid, gid: uid, cwd, statusFd: STATUS_FD, cmd: req.cmd }), {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: req.env, // becomes the command's environment, never its argv (host `ps` shows argv)
      detached: true, // no terminal signals from the control plane's session
    })
  } catch (err) {
    cgroups.removeExec(ref.id, cg.name)
    throw new RuntimeError('invalid_request', `cannot run ${JSON.stringify(req.cmd[0])}: ${messageOf(err)}`, { cause: err })
  }
  return new LocalExec(deps, ref, cg.name, child, oomBefore, req.timeoutMs)
}

class LocalExec implements ExecHandle {
  readonly stdin: Writable
  readonly stdout: Readable
  readonly stderr: Readable
  readonly #deps: ExecDeps
  readonly #ref: RuntimeRef
  readonly #id: string
  readonly #cgroup: string
  readonly #done: Promise<ExecExit>
  #settled = false
  #timedOut = false
  #killed = false
  #timer: NodeJS.Timeout | undefined

  constructor(deps: ExecDeps, ref: RuntimeRef, cgroup: string, child: ChildProcess, oomBefore: number, timeoutMs: number) {
    this.#deps = deps
    this.#ref = ref
    this.#id = ref.id
    this.#cgroup = cgroup
    this.stdin = child.stdin!
    this.stdout = child.stdout!
    this.stderr = child.stderr!
    // A command that exits without reading its stdin closes the pipe: not an error of ours.
    this.stdin.on('error', () => {})
    const started = performance.now()
    const status = readAll(child.stdio[STATUS_FD] as Readable)
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }))
      child.once('exit', (code, signal) => resolve({ code, signal }))
    })
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.#timer = setTimeout(() => {
        this.#timedOut = true
        void this.#killTree()
      }, Math.min(timeoutMs, MAX_TIMER_MS))
      this.#timer.unref()
    }
    this.#done = this.#finish(exited, status, started, oomBefore)
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
    // Only the command's cgroup: the helper (outside it) reaps the command and then exits by itself.
    await this.#deps.cgroups.killExec(this.#id, this.#cgroup)
  }

  async #finish(
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>,
    status: Promise<string>,
    started: number,
    oomBefore: number,
  ): Promise<ExecExit> {
    const { cgroups } = this.#deps
    try {
      const e = await exited
      const durationMs = performance.now() - started
      if (cgroups.execEmpty(this.#id, this.#cgroup)) cgroups.removeExec(this.#id, this.#cgroup)
      else await cgroups.killExec(this.#id, this.#cgroup)
      if (e.error) {
        throw new RuntimeError('runtime_unavailable', `could not start ${this.#deps.helperPath}: ${e.error.message}; run \`npm run build\` to compile it`, { cause: e.error })
      }
      const report = (await status).trim()
      // Destroyed under our feet (e.g. fork fails in a dying pid namespace): killed like everything in it.
      const interrupted = this.#timedOut || this.#killed || !isRunning(this.#ref.pid, this.#ref.startTime)
      if (report && !interrupted && e.code === EXEC_SETUP_FAILED) throw statusError(this.#id, report)
      const exitCode = interrupted ? 128 + constants.signals.SIGKILL : (e.code ?? 128 + (e.signal ? constants.signals[e.signal] : 0))
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
    }
  }
}

/** "<code>: <message>" from the helper's status fd → RuntimeError. */
function statusError(id: string, report: string): RuntimeError {
  const m = /^(not_found|invalid_request|internal): (.*)$/s.exec(report)
  const code = (m?.[1] ?? 'internal') as RuntimeErrorCode
  const message = m?.[2] ?? report
  if (code === 'invalid_request') return new RuntimeError(code, `${message} in sandbox ${id}; create it first or pick an existing directory`)
  if (code === 'not_found') return new RuntimeError(code, `sandbox ${id} is not running: ${message}`)
  return new RuntimeError(code, `could not start the command in sandbox ${id}: ${message}`)
}

function readAll(stream: Readable | null | undefined): Promise<string> {
  if (!stream) return Promise.resolve('')
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.once('error', () => resolve(Buffer.concat(chunks).toString('utf8')))
    stream.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}
