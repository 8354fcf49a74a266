/** @module insights/service — the feedback loop's service (ingest, analysis, remediation, triage, KPIs), scoped per project. */
import type {
  AnalyzeResult,
  Anomaly,
  Cluster,
  CreateRunInput,
  ErrorSignature,
  FinishRunInput,
  InsightsSettings,
  InsightTest,
  JunitIngestResult,
  Kpis,
  ListAnomaliesInput,
  ListRemediationsInput,
  ListRerunRequestsInput,
  RerunRequest,
  ListRunsInput,
  ListSignaturesInput,
  ListTestsInput,
  PutInsightsSettingsInput,
  Remediation,
  Run,
  RunEvent,
  TestHistory,
  TestHistoryInput,
  Triage,
  FinishRunResult,
} from '@tidepool/sdk'
import type { z } from 'zod'
import type { Config } from '../config.js'
import { AppError } from '../core/errors.js'
import { KeyedMutex } from '../core/mutex.js'
import type { AreaDeps } from '../kit/area-deps.js'
import { offsetOf, offsetPageOf, type Page } from '../kit/page.js'
import { noActions, type RemediationActions } from './actions.js'
import { analyzeProject } from './analysis.js'
import { InsightsConfig } from './config.js'
import type { AuditSink, EventSink, InsightsEnv } from './deps.js'
import { defaultPolicy, type RemediationPolicy } from './gates.js'
import { createRun, getRunRow, ingestEvents, ingestJunit, runView, type IngestOptions } from './ingest.js'
import { computeKpis } from './kpis.js'
import { rewriteTriage, type FetchLike } from './llm.js'
import { fireArmedSnapshots } from './armed-snapshots.js'
import { recommend } from './recommend.js'
import { restoreDueResizes, restoreResizesAfterRun } from './resize-restore.js'
import { pendingRerunRequests } from './rerun-requests.js'
import { withSandboxFigures, type SandboxFiguresPort } from './sandbox-figures.js'
import { applyByHand, decide, rejectByHand } from './remediation.js'
import { isDefaultBranch, loadSettings, parseJson, runFromRow } from './runs.js'
import {
  clusterBodies,
  decisionsFor,
  findTest,
  hasUnanalyzedRuns,
  markProjectUnanalyzed,
  markRunFinished,
  quarantinedTestIds,
  quarantinesOf,
  remediationsOfRun,
  resultsOfTest,
  runsBefore,
  saveSettings,
  selectAnomalies,
  selectRemediations,
  selectRuns,
  selectSignatures,
  selectTests,
} from './queries.js'
import { insightsDb } from './tables.js'
import { historyItem, testView } from './test-view.js'
import { renderMarkdown, triageRun } from './triage.js'

type Out<T extends z.ZodType> = z.output<T>

export interface InsightsService {
  createRun(project: string, input: Out<typeof CreateRunInput>): Promise<Run>
  listRuns(project: string, input: Out<typeof ListRunsInput>): Promise<Page<Run>>
  getRun(project: string, id: string): Promise<Run>
  ingestJunit(project: string, runId: string, body: Uint8Array, opts?: IngestOptions): Promise<JunitIngestResult>
  ingestEvents(project: string, runId: string, events: readonly RunEvent[]): Promise<{ runId: string; accepted: number }>
  finishRun(project: string, runId: string, input?: Omit<Out<typeof FinishRunInput>, 'id'>): Promise<FinishRunResult>
  listTests(project: string, input: Out<typeof ListTestsInput>): Promise<Page<InsightTest>>
  testHistory(project: string, input: Out<typeof TestHistoryInput>): Promise<TestHistory>
  triage(project: string, runId: string, opts?: { llm?: boolean | undefined }): Promise<Triage>
  listAnomalies(project: string, input: Out<typeof ListAnomaliesInput>): Promise<Page<Anomaly>>
  listSignatures(project: string, input: Out<typeof ListSignaturesInput>): Promise<Page<ErrorSignature>>
  listClusters(project: string): Promise<{ items: Cluster[] }>
  kpis(project: string, window: string): Promise<Kpis>
  listRemediations(project: string, input: Out<typeof ListRemediationsInput>): Promise<Page<Remediation>>
  /** Applied rerun requests no run has answered yet (also announced on the event stream as insights.rerun_requested). */
  listRerunRequests(project: string, input: Out<typeof ListRerunRequestsInput>): Promise<Page<RerunRequest>>
  applyRemediation(project: string, id: string, actor: string, note?: string): Promise<Remediation>
  rejectRemediation(project: string, id: string, actor: string, note?: string): Promise<Remediation>
  getSettings(project: string): Promise<InsightsSettings>
  putSettings(project: string, input: Out<typeof PutInsightsSettingsInput>): Promise<InsightsSettings>
  analyze(project: string, opts?: { full?: boolean }): Promise<AnalyzeResult>
  /** Resizes past remediation.resizeRestoreMinutes go back down (the reaper's tick); how many were restored. */
  restoreDueResizes(): Promise<number>
}

export interface InsightsOptions {
  /** Carries out resize / reset / re-seed / snapshot (main.ts: sandboxRemediationActions over the sandbox service). */
  actions?: RemediationActions
  /** Policy decision per remediation (default: requireApproval kinds stay manual). */
  policy?: RemediationPolicy
  /** Asked after `policy` allows: the Cedar policy set (main.ts hands in the policy area's gate), so a policy file can refuse a remediation too. */
  policyAsCode?: RemediationPolicy
  /** API key of the LLM endpoint (main.ts reads it from the env var named by insights.llm.apiKeyEnv). */
  llmApiKey?: string | undefined
  fetch?: FetchLike
  /** The sandboxes' cgroup figures, joined to a finished run that executed in them (main.ts: the sandbox service). */
  sandboxes?: SandboxFiguresPort
}

export type InsightsDeps = Pick<AreaDeps, 'store' | 'clock' | 'log'> & { config: Pick<Config, 'insights'>; audit: AuditSink; events?: EventSink | undefined }

export function createInsightsService(deps: InsightsDeps, opts: InsightsOptions = {}): InsightsService {
  // Re-parse: the config loader may hand over `{}` for an absent section; every key has a default here.
  const cfg = InsightsConfig.parse(deps.config.insights ?? {})
  const env: InsightsEnv = {
    db: insightsDb(deps.store),
    dialect: deps.store.dialect,
    sqlite: deps.store.sqlite,
    cfg,
    clock: deps.clock,
    log: deps.log,
    audit: deps.audit,
    events: deps.events,
    knownTests: new Map(),
  }
  const actions = opts.actions ?? noActions
  const policy = thenAsk(opts.policy ?? defaultPolicy(cfg.remediation), opts.policyAsCode)
  const fetchImpl: FetchLike = opts.fetch ?? ((url, init) => fetch(url, init))
  const analyses = new KeyedMutex() // one analysis per project at a time

  /** Analyses runs ingested since the last analysis (one analysis per project at a time). */
  async function fresh(project: string): Promise<void> {
    if (!(await hasUnanalyzedRuns(env, project))) return
    await analyses.run(project, () => analyzeProject(env, project, { full: false }))
  }

  async function remediationContext() {
    return { actions, policy }
  }

  return {
    createRun: (project, input) => createRun(env, project, input),

    async listRuns(project, input) {
      await fresh(project)
      const offset = offsetOf(input.nextToken)
      const rows = await selectRuns(env, project, input, offset)
      const settings = await loadSettings(env.db, project, cfg)
      return offsetPageOf(
        rows.map((r) => runFromRow(r, isDefaultBranch(r.branch, settings, cfg))),
        offset,
        input.limit,
      )
    },

    async getRun(project, id) {
      await fresh(project)
      return runView(env, await getRunRow(env, project, id))
    },

    ingestJunit: (project, runId, body, o) => ingestJunit(env, project, runId, body, o),

    async ingestEvents(project, runId, events) {
      return { runId, accepted: await ingestEvents(env, project, runId, events) }
    },

    async finishRun(project, runId, input = {}) {
      const row = await getRunRow(env, project, runId)
      const finishedAt = input.finishedAt ?? new Date(env.clock.now()).toISOString()
      if (Number.isNaN(Date.parse(finishedAt))) throw new AppError('invalid_request', `finishedAt must be an RFC 3339 timestamp (got ${JSON.stringify(finishedAt)})`)
      const given = input.infra ? JSON.stringify({ ...parseJson<Record<string, unknown>>(row.infra), ...input.infra }) : row.infra
      const joined = opts.sandboxes ? await withSandboxFigures(opts.sandboxes, project, row, given, finishedAt) : { infra: given, sandboxIds: [] }
      const infra = joined.infra
      await markRunFinished(env, project, runId, finishedAt, infra)
      await fresh(project)
      const t = await triageRun(env, project, runId)
      const existing = await decisionsFor(env, project, runId)
      const decided = new Set(existing.filter((e) => e.run_id === runId).map((e) => `${e.kind}\u0000${e.test_id ?? ''}`))
      const now = env.clock.now()
      const pendingOrQuarantined = new Set([
        ...(await quarantinedTestIds(env, project, now)),
        ...existing.filter((e) => e.kind === 'quarantine' && (e.status === 'suggested' || e.status === 'applied')).map((e) => e.test_id ?? ''),
      ])
      const armed = existing.filter((e) => e.kind === 'snapshot_on_failure' && (e.status === 'applied' || e.status === 'suggested'))
      const armedTests = new Set(armed.map((e) => e.test_id ?? ''))
      const settings = await loadSettings(env.db, project, cfg)
      const proposals = recommend(t.runRow, t.failures, t.saturation, pendingOrQuarantined, armedTests, settings.quarantineOwner ?? 'unassigned', now, cfg).filter(
        (p) => !decided.has(`${p.kind}\u0000${p.testId ?? ''}`),
      )
      const ctx = await remediationContext()
      // The resize decided for an earlier run lasted its run (this one): back down first, then decide afresh.
      await restoreResizesAfterRun(env, actions, project, runId, parseJson<{ sandboxId?: string }>(infra)?.sandboxId)
      const remediations = await decide(env, project, t.runRow, proposals, ctx)
      await fireArmedSnapshots(
        env,
        actions,
        project,
        t.runRow.id,
        t.failures.map((f) => f.testId),
        // The run's sandbox: infra.sandboxId, else the first one its calls created.
        parseJson<{ sandboxId?: string }>(infra)?.sandboxId ?? joined.sandboxIds[0],
        armed.filter((a) => a.status === 'applied').map((a) => JSON.parse(a.body) as Remediation),
      )
      return { run: await runView(env, await getRunRow(env, project, runId)), remediations }
    },

    async listTests(project, input) {
      await fresh(project)
      const offset = offsetOf(input.nextToken)
      const rows = await selectTests(env, project, input, offset)
      const qs = await quarantinesOf(
        env,
        project,
        rows.map((r) => r.id),
        env.clock.now(),
      )
      const qmap = new Map(qs.map((x) => [x.test_id, x]))
      return offsetPageOf(
        rows.map((r) => testView(r, qmap.get(r.id))),
        offset,
        input.limit,
      )
    },

    async testHistory(project, input) {
      await fresh(project)
      const t = await findTest(env, project, input.testId)
      if (!t) throw new AppError('not_found', `test ${input.testId} not found; list tests with GET /v1/insights/tests`)
      // Newest runs first, a chunk at a time, each looked up in the run-major index for this test.
      const items: TestHistory['items'] = []
      let before: { at: number; id: string } | undefined
      for (let chunk = 0; chunk < 50 && items.length < input.limit; chunk++) {
        const runs = await runsBefore(env, project, { until: t.last_seen, branch: input.branch, before, limit: chunk === 0 ? input.limit * 2 : 500 })
        if (runs.length === 0) break
        before = { at: runs[runs.length - 1]!.at, id: runs[runs.length - 1]!.id }
        const rows = await resultsOfTest(
          env,
          project,
          t.id,
          runs.map((r) => r.id),
        )
        const byRun = new Map<string, typeof rows>()
        for (const r of rows) byRun.set(r.run_id, [...(byRun.get(r.run_id) ?? []), r])
        for (const run of runs) {
          const rs = byRun.get(run.id)
          if (!rs) continue
          if (items.length >= input.limit) break
          items.push(historyItem(run, rs))
        }
      }
      const [q] = await quarantinesOf(env, project, [t.id], env.clock.now())
      return { test: testView(t, q), items }
    },

    async triage(project, runId, o = {}) {
      await fresh(project)
      const t = await triageRun(env, project, runId)
      const rems = await remediationsOfRun(env, project, runId)
      const markdown = renderMarkdown(t, rems)
      const base = { run: t.run, verdict: t.verdict, failures: t.failures, groups: t.groups, anomalies: t.anomalies, remediations: rems, problems: t.problems }
      const useLlm = o.llm ?? cfg.llm.url !== undefined
      if (!useLlm || !cfg.llm.url || t.verdict === 'green') return { ...base, markdown, markdownSource: 'deterministic' }
      try {
        const rewritten = await rewriteTriage(cfg.llm, opts.llmApiKey, markdown, fetchImpl)
        return { ...base, markdown: rewritten, markdownSource: 'llm' }
      } catch (err) {
        deps.log.warn({ err: (err as Error).message, project, runId }, 'LLM rewrite of triage failed; deterministic summary used')
        return { ...base, markdown, markdownSource: 'deterministic', llmError: (err as Error).message }
      }
    },

    async listAnomalies(project, input) {
      await fresh(project)
      const offset = offsetOf(input.nextToken)
      const bodies = await selectAnomalies(env, project, input, offset)
      return offsetPageOf(
        bodies.map((b) => JSON.parse(b) as Anomaly),
        offset,
        input.limit,
      )
    },

    async listSignatures(project, input) {
      const offset = offsetOf(input.nextToken)
      const rows = await selectSignatures(env, project, input, offset)
      return offsetPageOf(
        rows.map((r) => ({
          signature: r.id,
          text: r.text,
          example: r.example,
          infraLike: r.infra_like === 1,
          count: Number(r.count),
          tests: Number(r.tests),
          runs: Number(r.runs),
          firstSeen: new Date(Number(r.first)).toISOString(),
          lastSeen: new Date(Number(r.last)).toISOString(),
        })),
        offset,
        input.limit,
      )
    },

    async listClusters(project) {
      await fresh(project)
      const bodies = await clusterBodies(env, project)
      return { items: bodies.map((b) => JSON.parse(b) as Cluster).sort((a, b) => b.tests.length - a.tests.length || a.id.localeCompare(b.id)) }
    },

    async kpis(project, window) {
      await fresh(project)
      return computeKpis(env, project, window)
    },

    async listRemediations(project, input) {
      const offset = offsetOf(input.nextToken)
      const bodies = await selectRemediations(env, project, input, offset)
      return offsetPageOf(
        bodies.map((b) => JSON.parse(b) as Remediation),
        offset,
        input.limit,
      )
    },

    async listRerunRequests(project, input) {
      const offset = offsetOf(input.nextToken)
      return offsetPageOf(await pendingRerunRequests(env, project, offset, input.limit), offset, input.limit)
    },

    applyRemediation: async (project, id, actor, note) => applyByHand(env, project, id, actor, await remediationContext(), note),
    rejectRemediation: async (project, id, actor, note) => rejectByHand(env, project, id, actor, await remediationContext(), note),

    getSettings: (project) => loadSettings(env.db, project, cfg),

    async putSettings(project, input) {
      const cur = await loadSettings(env.db, project, cfg)
      const next: Partial<InsightsSettings> = {
        mode: input.mode ?? cur.mode,
        abAutoShare: input.abAutoShare ?? cur.abAutoShare,
        allowedActions: input.allowedActions ?? cur.allowedActions,
      }
      const branch = input.defaultBranch === undefined ? cur.defaultBranch : (input.defaultBranch ?? undefined)
      const owner = input.quarantineOwner === undefined ? cur.quarantineOwner : (input.quarantineOwner ?? undefined)
      if (branch) next.defaultBranch = branch
      if (owner) next.quarantineOwner = owner
      const updatedAt = new Date(env.clock.now()).toISOString()
      await saveSettings(env, project, next, updatedAt)
      // The default branch decides "broken": re-judge everything under the new rule.
      if (branch !== cur.defaultBranch) await markProjectUnanalyzed(env, project)
      return loadSettings(env.db, project, cfg)
    },

    restoreDueResizes: async () => (await restoreDueResizes(env, actions)).length,

    async analyze(project, o = {}) {
      const r = await analyses.run(project, () => analyzeProject(env, project, { full: o.full ?? true }))
      return { ...r, ms: Math.round(r.ms) }
    },
  }
}

/** `first`'s refusal stands; where it allows, `then` (when there is one) decides. */
function thenAsk(first: RemediationPolicy, then: RemediationPolicy | undefined): RemediationPolicy {
  if (!then) return first
  return {
    decide: async (req) => {
      const a = await first.decide(req)
      return a.allow ? then.decide(req) : a
    },
  }
}
