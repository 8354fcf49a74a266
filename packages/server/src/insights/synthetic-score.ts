/** @module insights/synthetic-score — replays a synthetic history into the service (online detection) and scores what it found against the ground truth. */
import type { InsightsService } from './service.js'
import type { GroundTruth, SyntheticRun } from './synthetic.js'

export interface OnlineDetection {
  /** Run index at which each truly flaky test was first listed as flaky. */
  flakyDetectedAt: Map<string, number>
  /** For each detected flaky test: runs from its first failure (outside outages) to its detection. */
  runsAfterFirstFailure: number[]
  /** For each slowed test: runs from the slowdown to the first regression anomaly attributed to its commit. */
  slowdownRuns: number[]
  analyses: number
}

/**
 * Replays a history the way CI would send it: run by run, with an incremental analysis every `every` runs,
 * recording when each truly flaky test and each slowdown is first detected (time to detect, online).
 */
export async function replayOnline(
  svc: Pick<InsightsService, 'createRun' | 'ingestJunit' | 'analyze' | 'listTests' | 'listAnomalies'>,
  project: string,
  runs: readonly SyntheticRun[],
  truth: GroundTruth,
  every: number,
): Promise<OnlineDetection> {
  const flakyDetectedAt = new Map<string, number>()
  const slowAt = new Map<string, number>()
  const firstFail = new Map<string, number>()
  let analyses = 0
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i]!
    await svc.createRun(project, run.input)
    await svc.ingestJunit(project, run.input.id, Buffer.from(run.xml))
    if (!run.outage) for (const id of run.failed) if (!firstFail.has(id)) firstFail.set(id, i)
    if ((i + 1) % every !== 0 && i !== runs.length - 1) continue
    await svc.analyze(project, { full: false })
    analyses++
    for (let tok: string | undefined; ;) {
      const page = await svc.listTests(project, { status: 'flaky', limit: 1000, ...(tok ? { nextToken: tok } : {}) })
      for (const t of page.items) if (truth.flaky.has(t.testId) && !flakyDetectedAt.has(t.testId)) flakyDetectedAt.set(t.testId, i)
      if (!page.nextToken) break
      tok = page.nextToken
    }
    for (const s of truth.slowed) {
      if (slowAt.has(s.testId) || i < (truth.runIndex.get(s.runId) ?? Number.POSITIVE_INFINITY)) continue
      const an = await svc.listAnomalies(project, { kind: 'test', type: 'regression', subject: s.testId, limit: 10 })
      if (an.items.some((a) => a.changePoint?.commit === s.commit)) slowAt.set(s.testId, i)
    }
  }
  const runsAfterFirstFailure: number[] = []
  for (const [id, at] of flakyDetectedAt) {
    const f = firstFail.get(id)
    if (f !== undefined) runsAfterFirstFailure.push(at - f)
  }
  const slowdownRuns = truth.slowed.filter((s) => slowAt.has(s.testId)).map((s) => slowAt.get(s.testId)! - truth.runIndex.get(s.runId)!)
  return { flakyDetectedAt, runsAfterFirstFailure, slowdownRuns, analyses }
}

export interface DetectionScore {
  precision: number
  recall: number
  truePositives: number
  falsePositives: string[]
  falseNegatives: string[]
  /** Broken tests labelled broken, and broken tests mislabelled flaky. */
  brokenFound: number
  brokenAsFlaky: number
  /** Outage runs flagged as infrastructure suspects, and non-outage runs flagged. */
  outagesFlagged: number
  outages: number
  falseOutages: number
  /** Runs (of the test's history) until its flakiness was first evidenced: p50 and p90 over detected flaky tests. */
  timeToDetectRuns: { p50: number; p90: number }
  /** Failures of the test observed up to (and including) detection: p50. */
  failuresToDetect: number
}

export function scoreDetection(
  truth: GroundTruth,
  tests: readonly { testId: string; status: string; since?: string | undefined }[],
  runs: readonly { id: string; infraSuspect: boolean }[],
  history: (testId: string) => { at: number; failed: boolean }[],
): DetectionScore {
  const detected = new Set(tests.filter((t) => t.status === 'flaky').map((t) => t.testId))
  const tp = [...detected].filter((id) => truth.flaky.has(id))
  const fp = [...detected].filter((id) => !truth.flaky.has(id))
  const fn = [...truth.flaky.keys()].filter((id) => !detected.has(id))
  const ttd: number[] = []
  const ftd: number[] = []
  for (const t of tests) {
    if (t.status !== 'flaky' || !truth.flaky.has(t.testId) || !t.since) continue
    const since = Date.parse(t.since)
    const h = history(t.testId)
    ttd.push(h.filter((x) => x.at <= since).length)
    ftd.push(h.filter((x) => x.at <= since && x.failed).length)
  }
  const q = (xs: number[], p: number) => {
    if (!xs.length) return Number.NaN
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
  }
  const status = new Map(tests.map((t) => [t.testId, t.status]))
  return {
    precision: detected.size ? tp.length / detected.size : 1,
    recall: truth.flaky.size ? tp.length / truth.flaky.size : 1,
    truePositives: tp.length,
    falsePositives: fp,
    falseNegatives: fn,
    brokenFound: [...truth.broken].filter((id) => status.get(id) === 'broken').length,
    brokenAsFlaky: [...truth.broken].filter((id) => status.get(id) === 'flaky').length,
    outagesFlagged: runs.filter((r) => r.infraSuspect && truth.outageRuns.has(r.id)).length,
    outages: truth.outageRuns.size,
    falseOutages: runs.filter((r) => r.infraSuspect && !truth.outageRuns.has(r.id)).length,
    timeToDetectRuns: { p50: q(ttd, 0.5), p90: q(ttd, 0.9) },
    failuresToDetect: q(ftd, 0.5),
  }
}
