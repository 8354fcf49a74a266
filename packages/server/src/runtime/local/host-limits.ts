/** @module runtime/local/host-limits — what the host can give sandboxes, with headroom left for the host itself. */
import { readFileSync } from 'node:fs'

/** The kernel's task limits (pure inputs of pidsCeiling). */
export interface HostTasks {
  /** /proc/sys/kernel/pid_max: the largest pid + 1, so at most this many tasks at once. */
  pidMax: number
  /** /proc/sys/kernel/threads-max: tasks the kernel will create in all. */
  threadsMax: number
}

/**
 * Tasks every sandbox on the host may hold together (and so one sandbox at most): half of what the
 * kernel allows, so the other half stays for the host's own shells, daemons and the control plane.
 */
export function pidsCeiling(t: HostTasks): number {
  return Math.max(8, Math.floor(Math.min(t.pidMax, t.threadsMax) / 2))
}

/** Reads the kernel's task limits; a missing file counts as the kernel default (pid_max 32768). */
export function readHostTasks(read: (file: string) => string | undefined = readProc): HostTasks {
  const num = (file: string, fallback: number) => {
    const n = Number(read(file)?.trim())
    return Number.isInteger(n) && n > 0 ? n : fallback
  }
  return { pidMax: num('/proc/sys/kernel/pid_max', 32_768), threadsMax: num('/proc/sys/kernel/threads-max', 32_768) }
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}
