import { describe, expect, it } from 'vitest'
import type { FailRow, RunMeta } from './analysis-reads.js'
import { classifyOutages, coFailingClusters, withWholeSuites } from './analysis.js'
import { InsightsConfig } from './config.js'

const cfg = InsightsConfig.parse({})

function run(id: string, at: number, over: Partial<RunMeta> = {}): RunMeta {
  return {
    id,
    at,
    commit: `c${at}`,
    codeKey: `k${at}`,
    variantKey: '',
    branch: 'main',
    isDefault: true,
    infra: false,
    attempt: 1,
    pipeline: null,
    analyzed: false,
    wasInfra: false,
    infraReason: null,
    ...over,
  }
}
const fail = (test_id: string, run_id: string, signature = 'sig'): FailRow => ({ test_id, run_id, at: 0, outcome: 1, signature })

describe('analysis steps', () => {
  it('classifyOutages: a run where most tests fail is an outage; only dirty runs are judged', () => {
    const runs = new Map([run('r1', 1, { analyzed: true }), run('r2', 2)].map((r) => [r.id, r]))
    const runRows = [
      { id: 'r1', tests: 10 },
      { id: 'r2', tests: 10 },
    ]
    const tests = new Map(Array.from({ length: 10 }, (_, i) => [`t${i}`, { suite: `s${i}` }]))
    const failRows = Array.from({ length: 8 }, (_, i) => fail(`t${i}`, 'r2', 'ECONNREFUSED'))
    const changed = classifyOutages({ cfg }, runRows, runs, [...failRows, fail('t0', 'r1')], tests, new Map(), false)
    expect(changed.map((r) => r.id)).toEqual(['r2'])
    expect(runs.get('r2')!.infra).toBe(true)
    expect(runs.get('r2')!.infraReason).toMatch(/8 of 10 tests failed/)
    expect(runs.get('r1')!.infra).toBe(false)
    expect(classifyOutages({ cfg }, runRows, runs, failRows, tests, new Map(), true).map((r) => r.id)).toEqual(['r1', 'r2'])
  })

  it('withWholeSuites: adds the suite-mates of touched tests and drops unknown ids', () => {
    const tests = new Map([
      ['a', { id: 'a', framework: 'vitest', suite: 'one' }],
      ['b', { id: 'b', framework: 'vitest', suite: 'one' }],
      ['c', { id: 'c', framework: 'vitest', suite: 'two' }],
      ['d', { id: 'd', framework: 'jest', suite: 'one' }],
    ])
    expect(withWholeSuites(new Set(['a', 'gone']), tests).sort()).toEqual(['a', 'b'])
  })

  it('coFailingClusters: outage runs and runs outside the window do not count', () => {
    const runIds = ['r1', 'r2', 'r3', 'r4', 'r5']
    const runs = new Map(runIds.map((id) => [id, { infra: id === 'r5' }]))
    const rows = runIds.flatMap((r) => [fail('x', r), fail('y', r)])
    const window = new Set(runIds)
    const all = coFailingClusters({ cfg }, rows, runs, window)
    expect(all.clusters).toHaveLength(1)
    expect(all.clusterOf.get('x')).toBe(all.clusterOf.get('y'))
    const none = coFailingClusters({ cfg }, rows, runs, new Set(['r1']))
    expect(none.clusters).toEqual([])
  })
})
