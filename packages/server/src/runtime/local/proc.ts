/** @module runtime/local/proc — facts about host processes from /proc. */
import { readFileSync, readlinkSync } from 'node:fs'

/** `/proc/<pid>/stat` starttime (clock ticks since boot), or undefined when the pid is gone or a zombie. */
export function readStartTime(pid: number): number | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // Fields after the command name (which may contain spaces and parentheses): state is field 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined
  const start = Number(rest[19]) // field 22
  return Number.isFinite(start) ? start : undefined
}

/** True once the process that `pid` named is gone entirely: exited and reaped by its parent (not a zombie). */
export function isReaped(pid: number, startTime: number): boolean {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return true
  }
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) !== startTime
}

/** True while the process that `pid` named when `startTime` was read is still running. */
export function isAlive(pid: number, startTime: number): boolean {
  return pid > 0 && readStartTime(pid) === startTime
}

/** True while the process still holds its namespaces (a dying init has dropped them before it is gone). */
export function hasNamespaces(pid: number): boolean {
  try {
    readlinkSync(`/proc/${pid}/ns/mnt`) // from nsproxy, dropped early in exit (ns/pid is not)
    return true
  } catch {
    return false
  }
}

/** A sandbox init that is running and not on its way out. */
export function isRunning(pid: number, startTime: number): boolean {
  return isAlive(pid, startTime) && hasNamespaces(pid)
}

/** Effective capabilities of this process, as a bigint mask. */
export function effectiveCapabilities(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m ? BigInt(`0x${m[1]}`) : 0n
  } catch {
    return 0n
  }
}

export const CAP_SYS_ADMIN = 21n
