/**
 * @module testing/growth — how a function's cost grows with its input, measured as a ratio in one run.
 *
 * For tests that prove something is linear-time without a wall-clock threshold: the time at k·n over
 * the time at n, on the same machine in the same moment. Time is this process's CPU time, not the wall
 * clock: on a loaded machine (a suite beside other suites) a call long enough to be preempted would
 * count the other processes' time too, and a linear function would look superlinear. The size doubles from n up to 16n and stops
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
 * One call's CPU time. Batched: from calls repeated until they use ≥ 0.5 ms (≤ 4096 calls), which rises above
 * timer resolution and scheduler noise on a tiny input; unbatched: one call (the fast screen).
 */
function perCall(apply: (input: string) => unknown, input: string, batched: boolean): number {
  const start = cpuMs()
  let calls = 0
  let elapsed = 0
  do {
    apply(input)
    calls++
    elapsed = cpuMs() - start
  } while (batched && elapsed < 0.5 && calls < 4096)
  // process.cpuUsage() has microsecond resolution; a zero would make every ratio infinite.
  return Math.max(elapsed, 0.001) / calls
}

/** CPU time this process has used (user + system), in ms. */
function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/**
 * Measures `apply(make(size))` at n, 2n, 4n, 8n, 16n (inputs are built outside the timing), taking the
 * minimum of `reps` runs at each size, and stops at the first size outside the envelope.
 */
export function growth(make: (size: number) => string, apply: (input: string) => unknown, n: number, reps = 3, envelope = linearEnvelope, batched = false): Growth {
  const time = (input: string): number => {
    let best = Infinity
    for (let r = 0; r < reps; r++) best = Math.min(best, perCall(apply, input, batched))
    return best
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
 * `growth` screened once and, when the screen looks superlinear, measured twice more with more repetitions
 * (a shared, noisy machine can stall one run): only a case superlinear three times is reported.
 */
export function confirmedGrowth(make: (size: number) => string, apply: (input: string) => unknown, n: number, envelope = linearEnvelope): Growth {
  const screen = growth(make, apply, n, 1, envelope)
  if (screen.linear) return screen
  // Two confirmations: a suite running beside other test files can stall a whole measurement once.
  const first = growth(make, apply, n, 5, envelope, true)
  return first.linear ? first : growth(make, apply, n, 5, envelope, true)
}

/**
 * Twice a quadratic's growth: the envelope for tiny inputs (8 to 128 characters), where a bounded pattern
 * still grows faster than linear (its bound is not reached yet) but an exponential one already explodes.
 */
export const explosionEnvelope = (m: number): number => 2 * m * m
