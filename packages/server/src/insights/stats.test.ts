import { describe, expect, it } from 'vitest'
import { betaCdf, betaQuantile, betaScore, mad, mannWhitney, median, normalSf, quantile } from './stats.js'

describe('stats', () => {
  it('median, quantile and MAD', () => {
    expect(median([5, 1, 3])).toBe(3)
    expect(median([1, 2, 3, 4])).toBe(2.5)
    expect(quantile([1, 2, 3, 4, 5], 0.9)).toBeCloseTo(4.6)
    expect(mad([1, 1, 2, 2, 4, 6, 9])).toBe(1)
    expect(Number.isNaN(median([]))).toBe(true)
  })
  it('Beta CDF and quantiles match known values', () => {
    expect(betaCdf(0.5, 2, 2)).toBeCloseTo(0.5, 10)
    expect(betaCdf(0.2, 2, 5)).toBeCloseTo(0.34464, 5)
    expect(betaQuantile(0.05, 2, 20)).toBeCloseTo(0.017191, 5)
    expect(betaQuantile(0.95, 1, 11)).toBeCloseTo(1 - 0.05 ** (1 / 11), 10)
  })
  it('betaScore: posterior mean with an interval that narrows with n', () => {
    const few = betaScore(1, 10)
    const many = betaScore(10, 100)
    expect(few.mean).toBeCloseTo(2 / 12)
    expect(many.mean).toBeCloseTo(11 / 102)
    expect(few.lo).toBeLessThan(few.mean)
    expect(few.hi).toBeGreaterThan(few.mean)
    expect(many.hi - many.lo).toBeLessThan(few.hi - few.lo)
    expect(betaScore(0, 0)).toMatchObject({ mean: 0.5 })
  })
  it('normal tail and Mann–Whitney', () => {
    expect(normalSf(1.959964)).toBeCloseTo(0.025, 5)
    const same = mannWhitney([1, 2, 3, 4, 5, 6], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
    expect(same.p).toBeGreaterThan(0.5)
    const shifted = mannWhitney([10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [30, 31, 32, 33, 34, 35, 36, 37, 38, 39])
    expect(shifted.u).toBe(100)
    expect(shifted.effect).toBe(1)
    expect(shifted.p).toBeLessThan(0.001)
    expect(mannWhitney([], [1]).p).toBe(1)
    expect(mannWhitney([1, 1, 1], [1, 1, 1]).p).toBe(1)
  })
})
