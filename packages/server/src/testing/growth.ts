/**
 * @module testing/growth — how a function's cost grows with its input, measured as a ratio in one run.
 *
 * For tests that prove something is linear-time without a wall-clock threshold: the time at k·n over
 * the time at n, on the same machine in the same moment. The size doubles from n up to 16n and stops
 * as soon as the ratio leaves the linear envelope, so a quadratic (or worse) case is caught at 4n
 * instead of being run to a size that would hang the test.
 */

/** Allowed ratio for `m` times more input: 2.5·m (40 for 16×; a quadratic shows 256 there). */
export const linearEnvelope = (m: number): number => 2.5 * m

export interface Growth {
  /** The largest multiple of n measured. */
  multiple: number
  /** Time at `multiple`·n over time at n (min of the repetitions at each size). */
  ratio: number
  /** Whether every measured ratio stayed inside the envelope. */
  linear: boolean
}

/**
 * Measures `apply(make(size))` at n, 2n, 4n, 8n, 16n (inputs are built outside the timing), taking the
 * minimum of `reps` runs at each size, and stops at the first size outside the envelope.
 */
export function growth(make: (size: number) => string, apply: (input: string) => unknown, n: number, reps = 3, envelope = linearEnvelope): Growth {
  const time = (input: string): number => {
    let best = Infinity
    for (let r = 0; r < reps; r++) {
      const t = performance.now()
      apply(input)
      best = Math.min(best, performance.now() - t)
    }
    // performance.now() has microsecond resolution; a zero would make every ratio infinite.
    return Math.max(best, 0.001)
  }
  const small = make(n)
  apply(small) // warm up the JIT and the regex compiler before anything is timed
  const base = time(small)
  let last: Growth = { multiple: 1, ratio: 1, linear: true }
  for (let m = 2; m <= 16; m *= 2) {
    const ratio = time(make(n * m)) / base
    last = { multiple: m, ratio, linear: ratio < envelope(m) }
    if (!last.linear) break
  }
  return last
}

/**
 * `growth` screened once and, when the screen looks superlinear, measured again with more repetitions
 * (a shared, noisy machine can stall one run): only a case superlinear twice is reported.
 */
export function confirmedGrowth(make: (size: number) => string, apply: (input: string) => unknown, n: number, envelope = linearEnvelope): Growth {
  const screen = growth(make, apply, n, 1, envelope)
  return screen.linear ? screen : growth(make, apply, n, 5, envelope)
}

/**
 * Twice a quadratic's growth: the envelope for tiny inputs (8 to 128 characters), where a bounded pattern
 * still grows faster than linear (its bound is not reached yet) but an exponential one already explodes.
 */
export const explosionEnvelope = (m: number): number => 2 * m * m
