import { describe, expect, it } from 'vitest'
import { detectAnomalies, type AnomalyParams, type Point } from './anomalies.js'

const params: AnomalyParams = { minSamples: 12, recent: 8, outlierZ: 5, alpha: 0.001, minRatio: 1.3, minAbsMs: 50, maxOutliersPerSubject: 3 }

function series(values: number[]): Point[] {
  return values.map((value, i) => ({ at: i * 60_000, runId: `r${i}`, commit: `c${i}`, value }))
}
function noisy(n: number, base: number, seed = 1): number[] {
  let s = seed
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647
  return Array.from({ length: n }, () => base * (0.9 + 0.2 * rnd()))
}

describe('detectAnomalies', () => {
  it('finds a sustained 2× regression and attributes it to the first run after the change', () => {
    const pts = series([...noisy(60, 200), ...noisy(12, 400, 7)])
    const f = detectAnomalies(pts, params)
    const reg = f.find((x) => x.type === 'regression')!
    expect(reg).toBeDefined()
    expect(reg.changePoint?.runId).toBe('r60')
    expect(reg.ratio).toBeGreaterThan(1.7)
    expect(reg.pValue).toBeLessThan(0.001)
    expect(reg.baselineMs).toBeGreaterThan(180)
  })

  it('flags one slow point as an outlier, not a regression', () => {
    const v = noisy(60, 200)
    v[40] = 2000
    const f = detectAnomalies(series(v), params)
    expect(f.filter((x) => x.type === 'regression')).toEqual([])
    expect(f.filter((x) => x.type === 'outlier').map((x) => x.point.runId)).toEqual(['r40'])
  })

  it('stays quiet on noise, on too few samples, and on shifts below the ratio or absolute floor', () => {
    expect(detectAnomalies(series(noisy(100, 200)), params)).toEqual([])
    expect(detectAnomalies(series([...noisy(5, 200), ...noisy(5, 800)]), params)).toEqual([])
    expect(detectAnomalies(series([...noisy(60, 200), ...noisy(20, 240, 3)]), params).filter((x) => x.type === 'regression')).toEqual([])
    expect(detectAnomalies(series([...noisy(60, 10), ...noisy(20, 30, 3)]), params).filter((x) => x.type === 'regression')).toEqual([])
  })

  it('needs a sustained shift: eight slow samples at the end are enough, three are not', () => {
    expect(detectAnomalies(series([...noisy(60, 200), 500, 510, 490]), params).filter((x) => x.type === 'regression')).toEqual([])
    expect(detectAnomalies(series([...noisy(60, 200), ...noisy(8, 500, 5)]), params).some((x) => x.type === 'regression')).toBe(true)
  })
})
