/**
 * @module runtime/local/adopted-exec — a command a restarted control plane found in a sandbox. Its
 * handler (a child of the sandbox's supervisor) outlived the old control plane and still enforces its
 * timeout; this handle follows it through its exec cgroup and the status file the handler writes.
 */
import { readFileSync, rmSync, statSync } from 'node:fs'
import { Readable, Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AdoptedExec, ExecExit, ExecHandle, RuntimeRef } from '../runtime.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { listDir, readText } from './host-files.js'
import { execFiles } from './local-exec.js'
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

/**
 * Every exec cgroup of the sandbox that no handle of this process owns (`live`): a detached command
 * (it has a tag file) comes back as a handle its handler still times out; a foreground one lost its
 * caller and is killed; an empty leftover is removed.
 */
export async function adoptExecs(d: { cgroups: Cgroups; ref: RuntimeRef; execsDir: string; live: Set<string> }): Promise<AdoptedExec[]> {
  const { cgroups, ref, execsDir, live } = d
  const names = new Set(cgroups.execNames(ref.id))
  for (const f of listDir(execsDir)) if (/^x[0-9]+\.tag$/.test(f)) names.add(f.slice(0, -4))
  const found: AdoptedExec[] = []
  for (const name of [...names].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))) {
    if (live.has(name)) continue
    const files = execFiles(execsDir, name)
    const tag = readText(files.tag)
    if (tag !== undefined) {
      live.add(name)
      found.push({ tag, detached: true, handle: adoptDetached({ cgroups, ref, cgroup: name, files, onEnd: () => live.delete(name) }) })
    } else if (!cgroups.execEmpty(ref.id, name)) {
      found.push({ detached: false, handle: await killOrphan(cgroups, ref, name) })
    } else {
      cgroups.removeExec(ref.id, name)
    }
  }
  return found
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
