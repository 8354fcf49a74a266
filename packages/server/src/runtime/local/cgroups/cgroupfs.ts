/** @module runtime/local/cgroups/cgroupfs — reading cgroup files and ending the processes a cgroup lists (both versions). */
import { existsSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { retry } from '../../../core/retry.js'
import { errnoOf, pollUntil } from '../backoff.js'
import { readText, subdirs } from '../host-files.js'
import { RuntimeError, messageOf } from '../runtime-error.js'

/** A number file; 'max' (no limit) reads as MAX_SAFE_INTEGER. */
export function readNumber(file: string): number | undefined {
  const t = readText(file)?.trim()
  if (t === undefined || t === '') return undefined
  if (t === 'max') return Number.MAX_SAFE_INTEGER
  const n = Number(t)
  return Number.isFinite(n) ? n : undefined
}

/** `key value` lines (memory.events, cpu.stat, memory.oom_control). */
export function keyed(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ')
    if (k === key && v !== undefined) return Number(v)
  }
  return undefined
}

/** The pids in one cgroup (not its children). */
export function listProcs(dir: string): number[] {
  const text = readText(join(dir, 'cgroup.procs'))
  if (!text) return []
  return text.split('\n').filter(Boolean).map(Number)
}

function listProcsDeep(dir: string): number[] {
  return [...listProcs(dir), ...subdirs(dir).flatMap((c) => listProcsDeep(join(dir, c)))]
}

/** Moves pids into another cgroup; one that exited meanwhile is skipped. */
export function moveAll(pids: number[], procsFile: string): void {
  for (const pid of pids) {
    try {
      writeFileSync(procsFile, String(pid))
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * SIGKILL via `<killDir>/cgroup.kill` where the kernel has it, else (and as a backstop) pid by pid,
 * until no process is left in `dirs` and their children; false when some survived `timeoutMs`.
 */
export async function killAndWait(killDir: string | undefined, dirs: string[], timeoutMs: number, afterSignal?: () => void): Promise<boolean> {
  const killFile = killDir ? join(killDir, 'cgroup.kill') : undefined
  let useKillFile = killFile !== undefined && existsSync(killFile)
  return pollUntil(
    () => {
      const pids = dirs.flatMap((d) => listProcsDeep(d))
      if (pids.length === 0) return true
      if (useKillFile) {
        try {
          writeFileSync(killFile!, '1')
        } catch {
          useKillFile = false
        }
      }
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      afterSignal?.()
      return false
    },
    { timeoutMs, maxDelayMs: 20 },
  )
}

/** rmdir that counts a missing directory as removed. */
export function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir)
    return true
  } catch (err) {
    return errnoOf(err) === 'ENOENT'
  }
}

/** rmdir, retried (~1 s) while the kernel says EBUSY: the last task is still on its way out. */
export async function rmdirRetry(dir: string): Promise<void> {
  try {
    await retry(
      () => {
        try {
          rmdirSync(dir)
        } catch (err) {
          if (errnoOf(err) !== 'ENOENT') throw err
        }
      },
      { attempts: 11, delayMs: (n) => 2 ** n, retryable: (err) => errnoOf(err) === 'EBUSY' },
    )
  } catch (err) {
    throw new RuntimeError('internal', `could not remove cgroup ${dir}: ${messageOf(err)}; kill the processes listed in its cgroup.procs and rmdir it`, { cause: err })
  }
}
