import { describe, expect, it } from 'vitest'
import { flakyFailureShare, flakyRepairHours, prToMergeHours, rerunsOf } from './kpi-figures.js'
import type { RunRow } from './tables.js'

const base = {
  project: 'p',
  tree: null,
  code_key: 'k',
  branch: 'main',
  variant: '{}',
  variant_key: '',
  started_at: '',
  finished_at: null,
  pipeline: 'ci',
  pr: null,
  infra: null,
  arm: null,
  status: 'finished',
  analyzed: 1,
  flaky: 0,
  skipped: 0,
  files: 1,
  file_errors: 0,
  infra_suspect: 0,
  infra_reason: null,
  created_at: '',
}
const run = (id: string, at: number, failed: number, o: Partial<RunRow> = {}): RunRow => ({ ...base, id, at, commit_sha: 'c1', attempt: 1, tests: 10, failed, test_ms: 60_000, ...o })

describe('KPI figures', () => {
  it('rerunsOf: a red run re-run on the same commit counts its time as waste and the time to the next green', () => {
    const m = rerunsOf([run('r1', 0, 2), run('r2', 600_000, 0, { attempt: 2 }), run('r3', 0, 1, { commit_sha: 'c2' })])
    expect([...m.keys()]).toEqual(['r1'])
    expect(m.get('r1')).toEqual({ wastedMs: 60_000, greenAfter: true, toGreenMin: 10 })
  })
  it('flakyFailureShare leaves outage runs out', () => {
    const rows = [
      { test_id: 'a', run_id: 'r1' },
      { test_id: 'b', run_id: 'r1' },
      { test_id: 'a', run_id: 'out' },
    ]
    expect(
      flakyFailureShare(
        rows,
        new Set(['out']),
        new Map([
          ['a', 'flaky'],
          ['b', 'broken'],
        ]),
      ),
    ).toBe(0.5)
    expect(flakyFailureShare([], new Set(), new Map())).toBeNull()
  })
  it('flakyRepairHours counts recoveries inside the window only', () => {
    const h = 3_600_000
    const log = [
      { test_id: 'a', at: 0, from_status: 'healthy', to_status: 'flaky' },
      { test_id: 'a', at: 5 * h, from_status: 'flaky', to_status: 'healthy' },
      { test_id: 'b', at: 0, from_status: 'healthy', to_status: 'flaky' },
      { test_id: 'b', at: 50 * h, from_status: 'flaky', to_status: 'healthy' },
    ]
    expect(flakyRepairHours(log, h, 10 * h)).toEqual([5])
  })
  it('prToMergeHours pairs the first opening with the last merge', () => {
    const h = 3_600_000
    const ev = [
      { kind: 'pr_opened', at: 0, pr: '7', body: '{}' },
      { kind: 'pr_opened', at: h, pr: '7', body: '{}' },
      { kind: 'pr_merged', at: 3 * h, pr: null, body: JSON.stringify({ data: { pr: '7' } }) },
    ]
    expect(prToMergeHours(ev, 0, 10 * h)).toEqual([3])
  })
})
