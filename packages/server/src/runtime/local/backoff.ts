/** @module runtime/local/backoff — the local runtime's one way to wait on the host: exponential backoff to a cap. */
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

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number
  /** The sleep after the first failure; each next one doubles. */
  firstDelayMs: number
  /** Which failures are worth another try (the rest are thrown at once). */
  retryable: (err: unknown) => boolean
}

/** Runs `attempt` until it succeeds; a retryable failure is tried again after a doubling sleep, the last one thrown. */
export async function retry<T>(attempt: () => T | Promise<T>, o: RetryOptions): Promise<T> {
  for (let n = 1, delay = o.firstDelayMs; ; n++, delay *= 2) {
    try {
      return await attempt()
    } catch (err) {
      if (n >= o.attempts || !o.retryable(err)) throw err
      await sleep(delay)
    }
  }
}

/** The errno code of a thrown value (`EBUSY`, `EAGAIN` …), if it has one. */
export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}
