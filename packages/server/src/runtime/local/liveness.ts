/**
 * @module runtime/local/liveness — knowing at once when a sandbox's init or supervisor dies: one
 * `tidepool-helper watch` child holds a pidfd per watched process and names each that exits. Works for
 * sandboxes this process started and for ones it adopted after a restart (not its children), without
 * polling and without signals of processes that are not ours.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { readStartTime } from './proc.js'

/** The supervisor's name (prctl PR_SET_NAME in the helper), or the helper's own just before it renames itself. */
// The kernel keeps 15 bytes of the exec name: "tidepool-helper" is exactly that long.
const SUPERVISOR_COMMS = ['tidepool-sup', 'tidepool-helper']

export interface Proc {
  pid: number
  startTime: number
}

/** The supervisor of a sandbox: the parent of its init, if that is a tidepool supervisor (else it died). */
export function supervisorOf(init: Proc): Proc | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${init.pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) // field 4
  if (!(ppid > 1)) return undefined
  let comm: string
  try {
    comm = readFileSync(`/proc/${ppid}/comm`, 'utf8').trim()
  } catch {
    return undefined
  }
  const startTime = readStartTime(ppid)
  return SUPERVISOR_COMMS.includes(comm) && startTime !== undefined ? { pid: ppid, startTime } : undefined
}

/** Watches processes by pid + start time; calls back once per key when the process exits. */
export class ProcessWatcher {
  readonly #helperPath: string
  readonly #onError: (err: Error) => void
  #child: ChildProcess | undefined
  readonly #watched = new Map<string, { proc: Proc; onExit: () => void }>()
  /** Watcher children that died; after a few, give up rather than respawn forever. */
  #deaths = 0

  constructor(helperPath: string, onError: (err: Error) => void) {
    this.#helperPath = helperPath
    this.#onError = onError
  }

  /** `key`: [A-Za-z0-9_:-], at most 95 characters, unique among live watches. */
  watch(key: string, proc: Proc, onExit: () => void): void {
    this.#watched.set(key, { proc, onExit })
    this.#send(`+${key} ${proc.pid} ${proc.startTime}\n`)
  }

  unwatch(key: string): void {
    if (this.#watched.delete(key)) this.#send(`-${key}\n`)
  }

  /** Ends the watcher child (tests, shutdown); pending watches are dropped. */
  close(): void {
    this.#watched.clear()
    const child = this.#child
    this.#child = undefined
    child?.kill('SIGKILL')
  }

  #send(line: string): void {
    const child = this.#child ?? this.#spawn()
    child.stdin?.write(line)
  }

  #spawn(): ChildProcess {
    // An empty environment; its stdin closing (this process ending) ends it.
    const child = spawn(this.#helperPath, ['watch'], { stdio: ['pipe', 'pipe', 'ignore'], env: {} })
    this.#child = child
    child.stdin!.on('error', () => {}) // it died: handled below
    createInterface({ input: child.stdout! }).on('line', (key) => {
      const w = this.#watched.get(key)
      this.#watched.delete(key)
      w?.onExit()
    })
    const gone = (why: string) => {
      if (this.#child !== child) return
      this.#child = undefined
      if (this.#watched.size === 0) return
      if (++this.#deaths > 5) {
        this.#onError(new Error(`tidepool-helper watch ${why} ${this.#deaths} times; lost sandboxes are found at the next call on them or restart`))
        return
      }
      // The watches died with it: a new watcher takes them over (one already gone is reported at once).
      this.#onError(new Error(`tidepool-helper watch ${why}; watching ${this.#watched.size} processes again`))
      for (const [key, w] of this.#watched) this.#send(`+${key} ${w.proc.pid} ${w.proc.startTime}\n`)
    }
    child.once('error', (err) => gone(err.message))
    child.once('exit', (code, signal) => gone(`exited (${signal ?? code})`))
    // Neither the child nor its pipes keep this process alive.
    child.unref()
    for (const s of [child.stdin, child.stdout]) (s as unknown as { unref?: () => void } | null)?.unref?.()
    return child
  }
}
