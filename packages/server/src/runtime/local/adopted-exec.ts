/**
 * @module runtime/local/adopted-exec — a command a restarted control plane found in a sandbox. Its
 * handler (a child of the sandbox's supervisor) outlived the old control plane and still enforces its
 * timeout; this handle follows it through its exec cgroup and the status file the handler writes.
 */
import { readFileSync, rmSync, statSync } from 'node:fs'
import { Readable, Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ExecExit, ExecHandle, RuntimeRef } from '../runtime.js'
import type { Cgroups } from './cgroups.js'
import { isAlive } from './proc.js'

/** How often an adopted command is looked at (they are few: only what outlived a restart). */
const POLL_MS = 100
/** A cgroup empty this long without a status file: the handler died too; the exit is unknown. */
const NO_STATUS_GRACE_MS = 1000

export interface AdoptedDeps {
  cgroups: Cgroups
  ref: RuntimeRef
  /** The exec cgroup's name. */
  cgroup: string
  files: { tag: string; status: string }
  /** Called once it has ended (the runtime forgets it). */
  onEnd: () => void
}

/** A handle on a detached command that outlived its control plane: no output, wait() and kill(). */
export function adoptDetached(deps: AdoptedDeps): ExecHandle {
  const { cgroups, ref, cgroup, files } = deps
  let started = Date.now()
  try {
    started = statSync(files.tag).mtimeMs
  } catch {
    // no tag file: it ended and was cleaned meanwhile
  }
  let killed = false
  let stop = false
  const exit = (exitCode: number, timedOut: boolean): ExecExit => ({ exitCode, timedOut, oomKilled: false, killed: killed && !timedOut, durationMs: Date.now() - started })
  const done = (async (): Promise<ExecExit> => {
    let emptySince: number | undefined
    // Bounded by the command itself: its handler ends it at its timeout, and destroy ends everything.
    for (;;) {
      const status = readStatus(files.status)
      if (status) return exit(status.code, status.timedOut)
      if (!isAlive(ref.pid, ref.startTime)) return exit(137, false)
      if (cgroups.execEmpty(ref.id, cgroup)) {
        emptySince ??= Date.now()
        if (Date.now() - emptySince > NO_STATUS_GRACE_MS || stop) return exit(137, false)
      }
      await sleep(POLL_MS, undefined, { ref: false })
    }
  })().finally(() => {
    for (const f of [files.tag, files.status]) rmSync(f, { force: true })
    cgroups.removeExec(ref.id, cgroup)
    deps.onEnd()
  })
  return {
    stdin: new Writable({ write: (_c, _e, cb) => cb() }),
    stdout: Readable.from([]),
    stderr: Readable.from([]),
    wait: () => done,
    kill: async () => {
      killed = true
      await cgroups.killExec(ref.id, cgroup)
      stop = true
      await done
    },
  }
}

/** A foreground command whose caller is gone: killed, and handed back already ended. */
export async function killOrphan(cgroups: Cgroups, ref: RuntimeRef, cgroup: string): Promise<ExecHandle> {
  const started = Date.now()
  await cgroups.killExec(ref.id, cgroup)
  const exit: ExecExit = { exitCode: 137, timedOut: false, oomKilled: false, killed: true, durationMs: Date.now() - started }
  return {
    stdin: new Writable({ write: (_c, _e, cb) => cb() }),
    stdout: Readable.from([]),
    stderr: Readable.from([]),
    wait: async () => exit,
    kill: async () => {},
  }
}

/** "<code>[ timeout]" as the handler writes it. */
function readStatus(file: string): { code: number; timedOut: boolean } | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const [code, flag] = text.trim().split(' ')
  const n = Number(code)
  return Number.isInteger(n) ? { code: n, timedOut: flag === 'timeout' } : undefined
}
