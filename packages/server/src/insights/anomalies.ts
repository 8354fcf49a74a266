/** @module insights/anomalies — duration anomalies of one series: robust point outliers and a sustained regression with its change point. */
import { mad, median, normalSf } from './stats.js'

export interface Point {
  at: number
  runId: string
  commit: string
  value: number
}

export interface AnomalyParams {
  minSamples: number
  recent: number
  outlierZ: number
  alpha: number
  minRatio: number
  minAbsMs: number
  maxOutliersPerSubject: number
}

export interface Finding {
  type: 'outlier' | 'regression'
  point: Point
  baselineMs: number
  madMs: number
  ratio: number
  pValue?: number
  changePoint?: Point
}

/**
 * Sustained regression: the single split of the series that maximises the Mann–Whitney z of "after > before"
 * (ranks computed once, U per split from prefix sums: O(n log n)); significant one-sided after a Bonferroni
 * correction over the splits tried, and large enough (ratio and absolute floor). The change point is the first run after the
 * split. Point outliers: robust z against the median/MAD of the segment the point belongs to (slow side only).
 */
export function detectAnomalies(points: readonly Point[], p: AnomalyParams): Finding[] {
  const n = points.length
  if (n < p.minSamples) return []
  const values = points.map((x) => x.value)
  const out: Finding[] = []

  const regression = findShift(values, p)
  let split = n
  if (regression) {
    split = regression.k
    const before = values.slice(0, split)
    const after = values.slice(split)
    const mb = median(before)
    const ma = median(after)
    out.push({
      type: 'regression',
      point: points[n - 1]!,
      baselineMs: mb,
      madMs: mad(before, mb),
      ratio: mb > 0 ? ma / mb : Number.POSITIVE_INFINITY,
      pValue: regression.p,
      changePoint: points[split]!,
    })
  }

  // Outliers against their own segment.
  const outliers: Finding[] = []
  for (const [from, to] of [
    [0, split],
    [split, n],
  ] as const) {
    if (to - from < p.minSamples) continue
    const seg = values.slice(from, to)
    const med = median(seg)
    const m = Math.max(mad(seg, med), 0.05 * med, 1)
    for (let i = from; i < to; i++) {
      const v = values[i]!
      if (v - med < p.minAbsMs) continue
      const z = (0.6745 * (v - med)) / m
      if (z > p.outlierZ) outliers.push({ type: 'outlier', point: points[i]!, baselineMs: med, madMs: m, ratio: med > 0 ? v / med : Number.POSITIVE_INFINITY })
    }
  }
  out.push(...outliers.slice(Math.max(0, outliers.length - p.maxOutliersPerSubject)))
  return out
}

function findShift(values: readonly number[], p: AnomalyParams): { k: number; p: number } | undefined {
  const n = values.length
  const minSeg = Math.max(3, Math.floor(p.recent / 2))
  if (n < 2 * minSeg) return undefined
  // Global ranks with ties averaged, and the tie correction term.
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0])
  const ranks = new Float64Array(n)
  let tieTerm = 0
  for (let i = 0; i < n;) {
    let j = i
    while (j + 1 < n && order[j + 1]![0] === order[i]![0]) j++
    const r = (i + j) / 2 + 1
    const t = j - i + 1
    if (t > 1) tieTerm += t * t * t - t
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = r
    i = j + 1
  }
  const suffix = new Float64Array(n + 1)
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + ranks[i]!
  let best: { k: number; z: number } | undefined
  for (let k = minSeg; k <= n - minSeg; k++) {
    const m = n - k // after
    const u = suffix[k]! - (m * (m + 1)) / 2
    const mu = (k * m) / 2
    const sigma = Math.sqrt(((k * m) / 12) * (n + 1 - tieTerm / (n * (n - 1))))
    if (sigma === 0) continue
    const z = (u - mu - 0.5) / sigma
    if (!best || z > best.z) best = { k, z }
  }
  if (!best) return undefined
  const candidates = n - 2 * minSeg + 1
  // One-sided (only slowdowns are anomalies), Bonferroni over the splits tried.
  const pv = Math.min(1, normalSf(best.z) * candidates)
  if (pv >= p.alpha) return undefined
  const mb = median(values.slice(0, best.k))
  const ma = median(values.slice(best.k))
  if (ma < mb * p.minRatio || ma - mb < p.minAbsMs) return undefined
  return { k: best.k, p: pv }
}
