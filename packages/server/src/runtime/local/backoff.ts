/** @module runtime/local/backoff — the local runtime's one way to wait on the host: exponential backoff to a cap (retries of a failing call: core/retry.ts). */
import { setTimeout as sleep } from 'node:timers/promises'

export interface PollOptions {
  /** Give up after this long (one last check is made after it passed). */
  timeoutMs: number
  /** Sleeps go 1, 2, 4 … ms up to this (small: the kernel usually answers within a few ms). */
  maxDelayMs: number
}

/** Calls `done` until it returns true (→ true) or the time is up (→ false), sleeping with backoff between. */
export async function pollUntil(done: () => boolean, o: PollOptions): Promise<boolean> {
  const deadline = Date.now() + o.timeoutMs
  for (let delay = 1; ; delay = Math.min(delay * 2, o.maxDelayMs)) {
    if (done()) return true
    if (Date.now() > deadline) return false
    await sleep(delay)
  }
}

/** The errno code of a thrown value (`EBUSY`, `EAGAIN` …), if it has one. */
export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}
