import { describe, expect, it } from 'vitest'
import { joinFigures, sandboxesOfRun, type RunSandboxFigures } from './sandbox-figures.js'

const MiB = 1048576
const fig = (over: Partial<RunSandboxFigures>): RunSandboxFigures => ({
  sandboxId: 'sbx_a',
  final: true,
  cpuSeconds: 1,
  memoryPeakBytes: 10 * MiB,
  memoryLimitBytes: 100 * MiB,
  oomKills: 0,
  pidsLimit: 64,
  ...over,
})

describe('joinFigures', () => {
  it('sums CPU-seconds, OOM kills and pids hits; memory from the most starved sandbox; CPU percent over the wall time', () => {
    const out = joinFigures(
      { sandboxId: 'sbx_a', queueMs: 5 },
      [fig({ cpuSeconds: 1.5, cpuLimit: 1 }), fig({ sandboxId: 'sbx_b', final: false, cpuSeconds: 2, memoryPeakBytes: 99 * MiB, oomKills: 2, pidsLimitHits: 4, cpuLimit: 0.5 })],
      4000,
    )
    expect(out).toEqual({
      sandboxId: 'sbx_a',
      queueMs: 5,
      cpuSeconds: 3.5,
      memoryPeakBytes: 99 * MiB,
      memoryLimitBytes: 100 * MiB,
      memoryPct: 99,
      oomKills: 2,
      pidsLimitHits: 4,
      cpuPct: 100,
      figuresFrom: 'sbx_a, sbx_b (live)',
    })
  })

  it("keeps the CI's own higher figures, and changes nothing without figures", () => {
    expect(joinFigures({ memoryPct: 100, oomKills: 5 }, [fig({ oomKills: 1 })], undefined)).toMatchObject({ memoryPct: 100, oomKills: 5, memoryPeakBytes: 10 * MiB })
    expect(joinFigures({ cpuPct: 3 }, [], 10)).toEqual({ cpuPct: 3 })
  })
})

describe('sandboxesOfRun', () => {
  it("infra.sandboxId first, then the run's own sandboxes, each once", async () => {
    const port = { figures: async () => undefined, sandboxesOfRun: async () => ['sbx_b', 'sbx_a'] }
    expect(await sandboxesOfRun(port, 'p', 'r', { sandboxId: 'sbx_a' })).toEqual(['sbx_a', 'sbx_b'])
    expect(await sandboxesOfRun({ figures: port.figures }, 'p', 'r', undefined)).toEqual([])
  })
})
