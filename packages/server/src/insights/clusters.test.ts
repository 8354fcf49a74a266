import { describe, expect, it } from 'vitest'
import { findClusters } from './clusters.js'

describe('findClusters', () => {
  it('groups tests that fail together and leaves independent ones alone', () => {
    const failing = new Map<string, Map<string, string>>()
    const add = (t: string, runs: number[], sig = 'race') => failing.set(t, new Map(runs.map((r) => [`r${r}`, sig])))
    add('a', [1, 5, 9, 14, 20])
    add('b', [1, 5, 9, 14, 20])
    add('c', [1, 5, 9, 14])
    add('d', [2, 6, 11, 17], 'other')
    add('e', [3, 7, 12, 18], 'third')
    const cs = findClusters(failing, { minCoFailures: 3, minJaccard: 0.6 })
    expect(cs).toHaveLength(1)
    expect(cs[0]).toMatchObject({ tests: ['a', 'b', 'c'], coFailures: 5, signature: 'race' })
    expect(cs[0]!.id).toMatch(/^c_[0-9a-f]{10}$/)
    expect(cs[0]!.jaccard).toBeCloseTo(0.8)
  })
  it('ignores runs with too many failures (outages say nothing about pairs)', () => {
    const failing = new Map<string, Map<string, string>>()
    for (let t = 0; t < 100; t++) failing.set(`t${t}`, new Map([1, 2, 3].map((r) => [`r${r}`, 'x'])))
    expect(findClusters(failing, { minCoFailures: 3, minJaccard: 0.6 })).toEqual([])
  })
})
