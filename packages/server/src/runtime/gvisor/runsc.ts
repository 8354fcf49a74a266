/** @module runtime/gvisor/runsc — finds runsc and runs its subcommands with the flags every call shares. */
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { RuntimeError } from '../local/runtime-error.js'

/** Where scripts/install-runsc.sh puts runsc, then PATH's usual places. */
export const runscCandidates = ['/usr/local/lib/tidepool/runsc', '/usr/local/bin/runsc', '/usr/bin/runsc']

/** The first executable runsc of `candidates` (an explicit path is the only candidate), or undefined. */
export function findRunsc(explicit?: string, candidates = runscCandidates): string | undefined {
  for (const p of explicit ? [explicit] : candidates) {
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {
      // next
    }
  }
  return undefined
}

/** Flags of every runsc call: its state dir, the platform, no host network. */
export interface RunscFlags {
  /** runsc --root: where it keeps each sandbox's state (per instance of tidepool). */
  stateDir: string
  /** systrap (seccomp traps; no KVM needed) or ptrace. */
  platform: 'systrap' | 'ptrace'
}

export function globalArgs(f: RunscFlags): string[] {
  return [
    `--root=${f.stateDir}`,
    `--platform=${f.platform}`,
    '--network=none',
    // The writable layer over the read-only root lives in the sandbox's memory (counted in its cgroup), and
    // goes with it: nothing on the host to clean up.
    '--overlay2=root:memory',
    // No host file access after start beyond the bundle's mounts; the gofer serves them.
    '--file-access=exclusive',
  ]
}

/** A minimal environment for runsc (never process.env). */
export const runscEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' }

export interface RunscResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs `runsc <global flags> <args>` to completion; never throws for a non-zero exit (the caller decides). */
export function runsc(bin: string, flags: RunscFlags, args: string[], timeoutMs = 30_000): Promise<RunscResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...globalArgs(flags), ...args], { env: runscEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new RuntimeError('runtime_unavailable', `could not run ${bin}: ${err.message}; install it with scripts/install-runsc.sh`))
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr })
    })
  })
}

/** The last line of runsc's stderr that says something (its error), for messages. */
export function runscError(r: RunscResult): string {
  const lines = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return lines.at(-1) ?? `exit ${r.code}`
}
