/** @module storage/run-command — run a host tool with argv (never a shell), capture its output, fail with its stderr. */
import { spawn, type SpawnOptions } from 'node:child_process'
import { childEnv } from '../core/child-env.js'

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Input written to stdin, then closed. */
  input?: string
  /** Variables for the child, from core/child-env.ts's allow-list (PATH and LC_ALL=C are always set). Never process.env. */
  env?: Readonly<Record<string, string | undefined>>
  cwd?: string
  uid?: number
  gid?: number
  /** Resolve with a non-zero code instead of rejecting. */
  allowFailure?: boolean
  timeoutMs?: number
}

/** A host command that exited non-zero; `stderr` says why. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    super(`${command} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim() || '(no output)'}`)
    this.name = 'CommandError'
  }
}

export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv(opts.env) }
    if (opts.cwd) spawnOpts.cwd = opts.cwd
    if (opts.uid !== undefined) spawnOpts.uid = opts.uid
    if (opts.gid !== undefined) spawnOpts.gid = opts.gid
    const child = spawn(cmd, args, spawnOpts)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    child.stderr!.on('data', (b: Buffer) => err.push(b))
    child.stdin!.on('error', () => undefined)
    child.stdin!.end(opts.input ?? '')
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined
    child.on('error', (e) => {
      if (timer) clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      const result = { code: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
      if (result.code !== 0 && !opts.allowFailure) reject(new CommandError([cmd, ...args].join(' '), result))
      else resolve(result)
    })
  })
}
