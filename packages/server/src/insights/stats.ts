/** @module insights/stats — robust statistics, Beta credible intervals and the Mann–Whitney U test (no dependencies). */

/** Median of numbers (does not modify the input). NaN for an empty list. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5)
}

/** Linear-interpolated quantile (type 7), q in [0, 1]. NaN for an empty list. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = Float64Array.from(xs).sort()
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}

/** Median absolute deviation (unscaled). */
export function mad(xs: readonly number[], med = median(xs)): number {
  return median(xs.map((x) => Math.abs(x - med)))
}

// ---------------------------------------------------------------- Beta distribution

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9).
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ]
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x)
  const z = x - 1
  let a = c[0]!
  const t = z + 7.5
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i)
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a)
}

function betacf(a: number, b: number, x: number): number {
  const maxIter = 300
  const eps = 3e-14
  const fpmin = 1e-300
  const qab = a + b
  const qap = a + 1
  const qam = a - 1
  let c = 1
  let d = 1 - (qab * x) / qap
  if (Math.abs(d) < fpmin) d = fpmin
  d = 1 / d
  let h = d
  for (let m = 1; m <= maxIter; m++) {
    const m2 = 2 * m
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < fpmin) d = fpmin
    c = 1 + aa / c
    if (Math.abs(c) < fpmin) c = fpmin
    d = 1 / d
    h *= d * c
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if (Math.abs(d) < fpmin) d = fpmin
    c = 1 + aa / c
    if (Math.abs(c) < fpmin) c = fpmin
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < eps) break
  }
  return h
}

/** Regularised incomplete beta I_x(a, b): the CDF of Beta(a, b) at x. */
export function betaCdf(x: number, a: number, b: number): number {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x)
  const bt = Math.exp(lbt)
  if (x < (a + 1) / (a + b + 2)) return (bt * betacf(a, b, x)) / a
  return 1 - (bt * betacf(b, a, 1 - x)) / b
}

/** Quantile of Beta(a, b) (bisection on the CDF; closed form when a = 1 or b = 1). */
export function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0
  if (p >= 1) return 1
  if (a === 1) return 1 - (1 - p) ** (1 / b)
  if (b === 1) return p ** (1 / a)
  let lo = 0
  let hi = 1
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (betaCdf(mid, a, b) < p) lo = mid
    else hi = mid
    if (hi - lo < 1e-9) break
  }
  return (lo + hi) / 2
}

export interface BetaScore {
  mean: number
  lo: number
  hi: number
}

/** Posterior of a failure rate after `fails` of `n` attempts with a Beta(1, 1) prior: mean and equal-tailed interval. */
export function betaScore(fails: number, n: number, level = 0.9): BetaScore {
  const a = fails + 1
  const b = n - fails + 1
  const tail = (1 - level) / 2
  return { mean: a / (a + b), lo: betaQuantile(tail, a, b), hi: betaQuantile(1 - tail, a, b) }
}

// ---------------------------------------------------------------- Mann–Whitney U

function erfc(x: number): number {
  // Numerical Recipes erfcc: fractional error < 1.2e-7.
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    )
  return x >= 0 ? r : 2 - r
}

/** Standard normal upper tail P(Z > z). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2)
}

export interface MannWhitney {
  u: number
  z: number
  /** Two-sided p-value (normal approximation with tie and continuity correction). */
  p: number
  /** P(after > before) estimate: U / (n1·n2). */
  effect: number
}

/** Mann–Whitney U test of `after` against `before`. */
export function mannWhitney(before: readonly number[], after: readonly number[]): MannWhitney {
  const n1 = before.length
  const n2 = after.length
  if (n1 === 0 || n2 === 0) return { u: 0, z: 0, p: 1, effect: 0.5 }
  const all: { v: number; g: 0 | 1 }[] = []
  for (const v of before) all.push({ v, g: 0 })
  for (const v of after) all.push({ v, g: 1 })
  all.sort((x, y) => x.v - y.v)
  const n = all.length
  let rankSumAfter = 0
  let tieTerm = 0
  for (let i = 0; i < n;) {
    let j = i
    while (j + 1 < n && all[j + 1]!.v === all[i]!.v) j++
    const rank = (i + j) / 2 + 1
    const t = j - i + 1
    if (t > 1) tieTerm += t * t * t - t
    for (let k = i; k <= j; k++) if (all[k]!.g === 1) rankSumAfter += rank
    i = j + 1
  }
  const u = rankSumAfter - (n2 * (n2 + 1)) / 2
  const mu = (n1 * n2) / 2
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))))
  if (sigma === 0) return { u, z: 0, p: 1, effect: u / (n1 * n2) }
  const diff = u - mu
  const z = (diff - Math.sign(diff) * 0.5) / sigma
  return { u, z, p: Math.min(1, 2 * normalSf(Math.abs(z))), effect: u / (n1 * n2) }
}
