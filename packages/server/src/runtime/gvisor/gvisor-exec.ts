/** @module runtime/gvisor/gvisor-exec — one command in a gVisor sandbox through `runsc exec`, as an ExecHandle. */
import { spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import type { ExecExit, ExecHandle, ExecRequest, RuntimeRef } from '../runtime.js'
import { RuntimeError } from '../local/runtime-error.js'
import { type ExecHeader, parseHeader, wrapperArgs } from './exec-wrapper.js'
import { processSpec } from './oci-spec.js'
import { type RunscFlags, globalArgs, runscEnv } from './runsc.js'

export interface GvisorExecDeps {
  bin: string
  flags: RunscFlags
  /** Where process.json files of execs are written (0700, under the sandbox's dir). */
  execsDir: string
  /** SIGKILLs every process of group `pgid` inside the sandbox (or queues it while the sandbox is paused). */
  killGroup: (pgid: number) => Promise<void>
  /** The sandbox's OOM kill count so far (to tell whether this command met one). */
  oomKills: () => number
  /** True once the sandbox is being destroyed or has died: a command it cut short was killed, not unstartable. */
  gone: () => boolean
}

let seq = 0

/** Starts `req` in sandbox `ref`: runsc exec of the wrapper (exec-wrapper.ts) with an exact process spec. */
export function startGvisorExec(deps: GvisorExecDeps, ref: RuntimeRef, req: ExecRequest): ExecHandle {
  const started = Date.now()
  const cwd = req.cwd ?? (req.user === 'root' ? '/' : '/home/user')
  const specFile = join(deps.execsDir, `${process.pid}-${seq++}.json`)
  // process.json carries the exact environment (runsc exec -env would merge it with the container's).
  writeFileSync(specFile, JSON.stringify(processSpec(wrapperArgs(cwd, req.cmd), req.env, req.user)), { mode: 0o600 })
  const oomBefore = deps.oomKills()
  const child = spawn(deps.bin, [...globalArgs(deps.flags), 'exec', `--process=${specFile}`, ref.id], { env: runscEnv, stdio: ['pipe', 'pipe', 'pipe'] })
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  child.stderr.pipe(stderr)
  let header: ExecHeader | undefined
  let resolveHeader!: (h: ExecHeader | undefined) => void
  const headerKnown = new Promise<ExecHeader | undefined>((r) => (resolveHeader = r))
  let head = Buffer.alloc(0)
  child.stdout.on('data', (c: Buffer) => {
    if (header) return void (stdout.write(c) || (child.stdout.pause(), stdout.once('drain', () => child.stdout.resume())))
    head = Buffer.concat([head, c])
    const nl = head.indexOf(10)
    if (nl < 0 && head.length < 64) return
    header = parseHeader(head.subarray(0, Math.max(nl, 0)).toString('latin1')) ?? { kind: 'no-cwd' }
    resolveHeader(header)
    rmSync(specFile, { force: true })
    const rest = head.subarray(nl + 1)
    if (rest.length > 0) stdout.write(rest)
  })
  child.stdout.once('end', () => stdout.end())
  let killed = false
  let timedOut = false
  const endTree = async () => {
    const h = await Promise.race([headerKnown, exited.then(() => undefined)])
    if (h?.kind === 'started') await deps.killGroup(h.pgid)
    // The guest group is gone (or queued while paused): the host runsc exec need not wait for it.
    child.kill('SIGKILL')
  }
  const timer = setTimeout(() => {
    timedOut = true
    void endTree()
  }, req.timeoutMs)
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new RuntimeError('runtime_unavailable', `could not run ${deps.bin}: ${err.message}`)))
    child.once('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)))
  }).finally(() => {
    clearTimeout(timer)
    rmSync(specFile, { force: true })
    resolveHeader(header)
  })
  let errText = ''
  child.stderr.on('data', (c: Buffer) => {
    if (errText.length < 4096) errText += c.toString('utf8')
  })
  const done = exited.then(async (code): Promise<ExecExit> => {
    if (!header && deps.gone()) return { exitCode: 137, timedOut, killed, oomKilled: false, durationMs: Math.max(1, Date.now() - started) }
    if (!header) throw new RuntimeError('not_found', `could not start the command in sandbox ${ref.id}: ${lastLine(errText) ?? `runsc exec exited ${code}`}`)
    if (header.kind === 'no-cwd') throw new RuntimeError('invalid_request', `sandbox ${ref.id}: cwd ${JSON.stringify(cwd)} does not exist (or is not a directory the user may enter)`)
    const exitCode = killed || timedOut ? 137 : code
    return { exitCode, timedOut, killed, oomKilled: deps.oomKills() > oomBefore, durationMs: Math.max(1, Date.now() - started) }
  })
  done.catch(() => {})
  return {
    stdin: child.stdin,
    stdout,
    stderr,
    wait: () => done,
    kill: async () => {
      if (killed || timedOut) return void (await done.catch(() => {}))
      killed = true
      await endTree()
      await done.catch(() => {})
    },
  }
}

function lastLine(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1)
}
