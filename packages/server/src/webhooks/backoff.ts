/** @module webhooks/backoff — when the next attempt of a delivery is due: exponential, capped, with full jitter. */

/**
 * The delay after failed attempt `attempt` (1-based): a uniform draw in [0, min(max, base·2^(attempt-1))]
 * ("full jitter"), so receivers that fail together are not retried together. `random` is in [0, 1).
 */
export function backoffDelay(attempt: number, o: { baseMs: number; maxMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt - 1, 40))
  return Math.floor(random() * ceiling)
}
