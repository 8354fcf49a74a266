import { describe, expect, it } from 'vitest'
import { InsightsConfig } from './config.js'
import { classifyRun, saturation } from './infra.js'

const cfg = InsightsConfig.parse({}).infra
const f = (testId: string, signature: string, suite = testId, infraLike = false) => ({ testId, signature, suite, infraLike })

describe('classifyRun', () => {
  it('≥ 30 % of tests failing is an outage suspect', () => {
    const failing = Array.from({ length: 30 }, (_, i) => f(`t${i}`, `s${i}`))
    expect(classifyRun({ tests: 100, failing }, {}, cfg)).toMatchObject({ suspect: true })
    expect(classifyRun({ tests: 101, failing: failing.slice(0, 29) }, {}, cfg).suspect).toBe(false)
  })
  it('most failures sharing an infrastructure-like signature is an outage suspect', () => {
    const failing = [f('a', 'net', 'A', true), f('b', 'net', 'A', true), f('c', 'net', 'A', true), f('d', 'x')]
    expect(classifyRun({ tests: 500, failing }, {}, cfg)).toMatchObject({ suspect: true })
  })
  it('a shared ordinary signature counts only when sudden and spread over suites', () => {
    const spread = [f('a', 's', 'A'), f('b', 's', 'B'), f('c', 's', 'C'), f('d', 'x')]
    expect(classifyRun({ tests: 500, failing: spread }, {}, cfg).suspect).toBe(true)
    // the same tests failed the same way in the previous run: a breakage
    expect(classifyRun({ tests: 500, failing: spread }, { prevFailing: new Set(['a', 'b', 'c']) }, cfg).suspect).toBe(false)
    // a background error (a flaky test's usual one) is no outage
    expect(classifyRun({ tests: 500, failing: spread }, { isBackground: () => true }, cfg).suspect).toBe(false)
    // one suite: a change to that suite, not an outage
    expect(classifyRun({ tests: 500, failing: [f('a', 's', 'A'), f('b', 's', 'A'), f('c', 's', 'A')] }, {}, cfg).suspect).toBe(false)
  })
  it('few failures or no majority signature is no outage', () => {
    expect(classifyRun({ tests: 500, failing: [f('a', 'n', 'A', true), f('b', 'n', 'B', true)] }, {}, cfg).suspect).toBe(false)
    expect(classifyRun({ tests: 500, failing: [f('a', '1'), f('b', '2'), f('c', '3'), f('d', '4')] }, {}, cfg).suspect).toBe(false)
    expect(classifyRun({ tests: 500, failing: [] }, {}, cfg).suspect).toBe(false)
  })
})

describe('saturation', () => {
  it('reports OOM kills and memory/CPU peaks over the thresholds', () => {
    expect(saturation([{ memoryPct: 97, cpuPct: 50 }, { oomKills: 1 }], cfg)).toEqual(['memory-starved: 1 process(es) OOM-killed', 'memory-starved: memory peaked at 97% of its limit'])
    expect(saturation([{ cpuPct: 99 }, undefined], cfg)).toEqual(['CPU-starved: CPU peaked at 99% of its limit'])
    expect(saturation([{ memoryPct: 50 }], cfg)).toEqual([])
  })

  it('says memory-starved with the peak and limit, and pids-starved from refused forks (figures joined from a sandbox)', () => {
    expect(saturation([{ memoryPct: 99, memoryPeakBytes: 127 * 1048576, memoryLimitBytes: 128 * 1048576, pidsLimitHits: 3 }], cfg)).toEqual([
      'memory-starved: memory peaked at 99% of its limit (127 MiB of 128 MiB)',
      'pids-starved: the pids limit refused 3 fork(s)',
    ])
  })
})
