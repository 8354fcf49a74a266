/** @module core/retry — one retry loop: a bounded number of attempts, a filter for failures worth another, an optional pause between. */

export interface RetryOptions {
  /** Attempts in all, the first one included (≥ 1). */
  attempts: number
  /** Whether this failure is worth another attempt (default: every failure is). A false answer rethrows it at once. */
  retryable?: (err: unknown, attempt: number) => boolean
  /** Pause in ms after failed attempt `attempt` (0-based) before the next one (default: none). */
  delayMs?: (attempt: number) => number
  /** Runs after a failure that will be retried, before the pause (give back what the attempt took). */
  onRetry?: (err: unknown, attempt: number) => void | Promise<void>
  /** How to wait (tests pass one that records the pauses). */
  sleep?: (ms: number) => Promise<void>
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs `fn` until it resolves, the failure is not retryable, or the attempts are used up; then throws the last failure. */
export async function retry<T>(fn: (attempt: number) => T | Promise<T>, o: RetryOptions): Promise<T> {
  if (!Number.isInteger(o.attempts) || o.attempts < 1) throw new RangeError(`retry needs at least one attempt (got ${o.attempts})`)
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt + 1 >= o.attempts || (o.retryable && !o.retryable(err, attempt))) throw err
      await o.onRetry?.(err, attempt)
      const ms = o.delayMs?.(attempt) ?? 0
      if (ms > 0) await (o.sleep ?? wait)(ms)
    }
  }
}
