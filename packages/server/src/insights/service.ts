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
import { sql } from 'kysely'
import type { z } from 'zod'
import type { Config } from '../config.js'
import { AppError } from '../core/errors.js'
import { KeyedMutex } from '../core/mutex.js'
import type { AreaDeps } from '../kit/area-deps.js'
import { decodeCursor, encodeCursor } from '../kit/cursor.js'
import { noActions, type RemediationActions } from './actions.js'
import { analyzeProject } from './analysis.js'
import { InsightsConfig } from './config.js'
import type { AuditSink, InsightsEnv } from './deps.js'
import { defaultPolicy, type RemediationPolicy } from './gates.js'
import { createRun, getRunRow, ingestEvents, ingestJunit, runView, type IngestOptions } from './ingest.js'
import { computeKpis } from './kpis.js'
import { rewriteTriage, type FetchLike } from './llm.js'
import { applyByHand, decide, recommend, rejectByHand } from './remediation.js'
import { isDefaultBranch, loadSettings, parseJson, runFromRow } from './runs.js'
import { insightsDb, type TestRow } from './tables.js'
import { renderMarkdown, triageRun } from './triage.js'

type Out<T extends z.ZodType> = z.output<T>
type Page<T> = { items: T[]; nextToken?: string }

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
  applyRemediation(project: string, id: string, actor: string, note?: string): Promise<Remediation>
  rejectRemediation(project: string, id: string, actor: string, note?: string): Promise<Remediation>
  getSettings(project: string): Promise<InsightsSettings>
  putSettings(project: string, input: Out<typeof PutInsightsSettingsInput>): Promise<InsightsSettings>
  analyze(project: string, opts?: { full?: boolean }): Promise<AnalyzeResult>
}

export interface InsightsOptions {
  /** Carries out resize / reset / re-seed / snapshot (main.ts: sandboxRemediationActions over the sandbox service). */
  actions?: RemediationActions
  /** Policy decision per remediation (default: requireApproval kinds stay manual). */
  policy?: RemediationPolicy
  /** API key of the LLM endpoint (main.ts reads it from the env var named by insights.llm.apiKeyEnv). */
  llmApiKey?: string | undefined
  fetch?: FetchLike
}

export type InsightsDeps = Pick<AreaDeps, 'store' | 'clock' | 'log'> & { config: Pick<Config, 'insights'>; audit: AuditSink }

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
    knownTests: new Map(),
  }
  const actions = opts.actions ?? noActions
  const policy = opts.policy ?? defaultPolicy(cfg.remediation)
  const fetchImpl: FetchLike = opts.fetch ?? ((url, init) => fetch(url, init))
  const analyses = new KeyedMutex() // one analysis per project at a time

  /** Analyses runs ingested since the last analysis (one analysis per project at a time). */
  async function fresh(project: string): Promise<void> {
    const pending = await env.db.selectFrom('insight_runs').select('id').where('project', '=', project).where('analyzed', '=', 0).limit(1).executeTakeFirst()
    if (!pending) return
    await analyses.run(project, () => analyzeProject(env, project, { full: false }))
  }

  function testView(t: TestRow, q?: { owner: string; expires_at: number; reason: string; remediation_id: string | null }): InsightTest {
    return {
      testId: t.id,
      framework: t.framework,
      suite: t.suite,
      name: t.name,
      ...(t.file ? { file: t.file } : {}),
      status: t.status as InsightTest['status'],
      tier: t.tier as InsightTest['tier'],
      score: round(t.score),
      interval: [round(t.lo), round(t.hi)],
      n: t.n,
      failures: t.fails,
      flakyEvidence: t.evidence,
      excludedRuns: t.excluded,
      failStreak: t.streak,
      ...(t.since !== null ? { since: new Date(t.since).toISOString() } : {}),
      lastSeen: new Date(t.last_seen).toISOString(),
      ...(t.cluster ? { cluster: t.cluster } : {}),
      ...(q ? { quarantine: { owner: q.owner, expiresAt: new Date(q.expires_at).toISOString(), reason: q.reason, ...(q.remediation_id ? { remediationId: q.remediation_id } : {}) } } : {}),
    }
  }

  const offsetOf = (token: string | undefined) => {
    const k = decodeCursor(token)
    const n = k === undefined ? 0 : Number(k)
    if (!Number.isInteger(n) || n < 0) throw new AppError('invalid_request', 'nextToken is not a token this API returned; pass the nextToken of the previous page')
    return n
  }
  const pageOf = <T>(items: T[], offset: number, limit: number): Page<T> =>
    items.length > limit ? { items: items.slice(0, limit), nextToken: encodeCursor(String(offset + limit)) } : { items }

  async function remediationContext() {
    return { actions, policy }
  }

  return {
    createRun: (project, input) => createRun(env, project, input),

    async listRuns(project, input) {
      await fresh(project)
      const offset = offsetOf(input.nextToken)
      let q = env.db.selectFrom('insight_runs').selectAll().where('project', '=', project)
      if (input.branch) q = q.where('branch', '=', input.branch)
      if (input.commit) q = q.where('commit_sha', '=', input.commit)
      if (input.pr) q = q.where('pr', '=', input.pr)
      const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(input.limit + 1).offset(offset).execute()
      const settings = await loadSettings(env.db, project, cfg)
      return pageOf(
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
      const infra = input.infra ? JSON.stringify({ ...parseJson<Record<string, unknown>>(row.infra), ...input.infra }) : row.infra
      await env.db.updateTable('insight_runs').set({ status: 'finished', finished_at: finishedAt, infra, analyzed: 0 }).where('project', '=', project).where('id', '=', runId).execute()
      await fresh(project)
      const t = await triageRun(env, project, runId)
      // This run's decisions, and the live quarantines / armed snapshots of the project (not its whole history).
      const existing = await env.db
        .selectFrom('insight_remediations')
        .select(['kind', 'run_id', 'test_id', 'status', 'body'])
        .where('project', '=', project)
        .where((eb) => eb.or([eb('run_id', '=', runId), eb.and([eb('kind', 'in', ['quarantine', 'snapshot_on_failure']), eb('status', 'in', ['suggested', 'applied'])])]))
        .execute()
      const decided = new Set(existing.filter((e) => e.run_id === runId).map((e) => `${e.kind}\u0000${e.test_id ?? ''}`))
      const now = env.clock.now()
      const q = await env.db.selectFrom('insight_quarantine').select('test_id').where('project', '=', project).where('expires_at', '>', now).execute()
      const pendingOrQuarantined = new Set([...q.map((x) => x.test_id), ...existing.filter((e) => e.kind === 'quarantine' && (e.status === 'suggested' || e.status === 'applied')).map((e) => e.test_id ?? '')])
      const armed = existing.filter((e) => e.kind === 'snapshot_on_failure' && (e.status === 'applied' || e.status === 'suggested'))
      const armedTests = new Set(armed.map((e) => e.test_id ?? ''))
      const settings = await loadSettings(env.db, project, cfg)
      const proposals = recommend(t.runRow, t.failures, t.saturation, pendingOrQuarantined, armedTests, settings.quarantineOwner ?? 'unassigned', now, cfg).filter(
        (p) => !decided.has(`${p.kind}\u0000${p.testId ?? ''}`),
      )
      const ctx = await remediationContext()
      const remediations = await decide(env, project, t.runRow, proposals, ctx)
      await fireArmedSnapshots(project, t.runRow.id, t.failures.map((f) => f.testId), parseJson<{ sandboxId?: string }>(infra)?.sandboxId, armed.filter((a) => a.status === 'applied').map((a) => JSON.parse(a.body) as Remediation))
      return { run: await runView(env, await getRunRow(env, project, runId)), remediations }
    },

    async listTests(project, input) {
      await fresh(project)
      const offset = offsetOf(input.nextToken)
      let q = env.db.selectFrom('insight_tests').selectAll().where('project', '=', project)
      if (input.status) q = q.where('status', '=', input.status)
      if (input.q) {
        const like = `%${input.q.replace(/[%_\\]/g, (c) => `\\${c}`)}%`
        q = q.where((eb) => eb.or([eb('suite', 'like', sql<string>`${like} escape '\\'`), eb('name', 'like', sql<string>`${like} escape '\\'`), eb('file', 'like', sql<string>`${like} escape '\\'`)]))
      }
      const rows = await q.orderBy('score', 'desc').orderBy('id').limit(input.limit + 1).offset(offset).execute()
      const ids = rows.map((r) => r.id)
      const qs = ids.length ? await env.db.selectFrom('insight_quarantine').selectAll().where('project', '=', project).where('test_id', 'in', ids).where('expires_at', '>', env.clock.now()).execute() : []
      const qmap = new Map(qs.map((x) => [x.test_id, x]))
      return pageOf(
        rows.map((r) => testView(r, qmap.get(r.id))),
        offset,
        input.limit,
      )
    },

    async testHistory(project, input) {
      await fresh(project)
      const t = await env.db.selectFrom('insight_tests').selectAll().where('project', '=', project).where('id', '=', input.testId).executeTakeFirst()
      if (!t) throw new AppError('not_found', `test ${input.testId} not found; list tests with GET /v1/insights/tests`)
      // Newest runs first, a chunk at a time, each looked up in the run-major index for this test.
      const items: TestHistory['items'] = []
      let before: { at: number; id: string } | undefined
      for (let chunk = 0; chunk < 50 && items.length < input.limit; chunk++) {
        const runs = await env.db
          .selectFrom('insight_runs')
          .select(['id', 'at', 'commit_sha', 'code_key', 'branch', 'variant', 'attempt', 'infra_suspect'])
          .where('project', '=', project)
          .where('at', '<=', t.last_seen)
          .$if(input.branch !== undefined, (qb) => qb.where('branch', '=', input.branch!))
          .$if(before !== undefined, (qb) => qb.where((eb) => eb.or([eb('at', '<', before!.at), eb.and([eb('at', '=', before!.at), eb('id', '<', before!.id)])])))
          .orderBy('at', 'desc')
          .orderBy('id', 'desc')
          .limit(chunk === 0 ? input.limit * 2 : 500)
          .execute()
        if (runs.length === 0) break
        before = { at: runs[runs.length - 1]!.at, id: runs[runs.length - 1]!.id }
        const rows = await env.db
          .selectFrom('insight_results')
          .select(['run_id', 'outcome', 'attempts', 'fails', 'duration_ms', 'signature', 'message'])
          .where('project', '=', project)
          .where('run_id', 'in', runs.map((r) => r.id))
          .where('test_id', '=', t.id)
          .execute()
        const byRun = new Map<string, (typeof rows)[number][]>()
        for (const r of rows) byRun.set(r.run_id, [...(byRun.get(r.run_id) ?? []), r])
        for (const run of runs) {
          const rs = byRun.get(run.id)
          if (!rs) continue
          if (items.length >= input.limit) break
          let attempts = 0
          let fails = 0
          let pass = false
          let fail = false
          for (const r of rs) {
            attempts += r.attempts
            fails += r.fails
            if (r.outcome === 0) pass = true
            if (r.outcome === 1) fail = true
          }
          const withSig = rs.find((r) => r.signature)
          const dur = rs.find((r) => r.duration_ms !== null)?.duration_ms
          items.push({
            runId: run.id,
            at: new Date(run.at).toISOString(),
            commit: run.commit_sha,
            codeKey: run.code_key,
            branch: run.branch,
            variant: parseJson<Record<string, string>>(run.variant) ?? {},
            attempt: run.attempt,
            outcome: pass ? 'pass' : fail ? 'fail' : 'skip',
            attempts,
            failedAttempts: fails,
            ...(dur !== undefined && dur !== null ? { durationMs: dur } : {}),
            ...(withSig?.signature ? { signature: withSig.signature } : {}),
            ...(withSig?.message ? { message: withSig.message } : {}),
            infraSuspect: run.infra_suspect === 1,
          })
        }
      }
      const q = await env.db.selectFrom('insight_quarantine').selectAll().where('project', '=', project).where('test_id', '=', t.id).where('expires_at', '>', env.clock.now()).executeTakeFirst()
      return { test: testView(t, q), items }
    },

    async triage(project, runId, o = {}) {
      await fresh(project)
      const t = await triageRun(env, project, runId)
      const rems = (await env.db.selectFrom('insight_remediations').select('body').where('project', '=', project).where('run_id', '=', runId).orderBy('created_at').execute()).map(
        (r) => JSON.parse(r.body) as Remediation,
      )
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
      let q = env.db.selectFrom('insight_anomalies').select('body').where('project', '=', project)
      if (input.kind) q = q.where('kind', '=', input.kind)
      if (input.type) q = q.where('type', '=', input.type)
      if (input.subject) q = q.where('subject', '=', input.subject)
      const rows = await q.orderBy('type', 'desc').orderBy('at', 'desc').orderBy('id').limit(input.limit + 1).offset(offset).execute()
      return pageOf(
        rows.map((r) => JSON.parse(r.body) as Anomaly),
        offset,
        input.limit,
      )
    },

    async listSignatures(project, input) {
      const offset = offsetOf(input.nextToken)
      let q = env.db
        .selectFrom('insight_results as r')
        .innerJoin('insight_signatures as s', (j) => j.onRef('s.project', '=', 'r.project').onRef('s.id', '=', 'r.signature'))
        .select((eb) => [
          's.id',
          's.text',
          's.example',
          's.infra_like',
          eb.fn.countAll<number>().as('count'),
          eb.fn.count<number>('r.test_id').distinct().as('tests'),
          eb.fn.count<number>('r.run_id').distinct().as('runs'),
          eb.fn.min<number>('r.at').as('first'),
          eb.fn.max<number>('r.at').as('last'),
        ])
        .where('r.project', '=', project)
        .where('r.signature', 'is not', null)
      if (input.q) q = q.where((eb) => eb.or([eb('s.text', 'like', `%${input.q}%`), eb('s.example', 'like', `%${input.q}%`)]))
      const rows = await q
        .groupBy(['s.id', 's.text', 's.example', 's.infra_like'])
        .orderBy('count', 'desc')
        .orderBy('s.id')
        .limit(input.limit + 1)
        .offset(offset)
        .execute()
      return pageOf(
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
      const rows = await env.db.selectFrom('insight_clusters').select('body').where('project', '=', project).execute()
      return { items: rows.map((r) => JSON.parse(r.body) as Cluster).sort((a, b) => b.tests.length - a.tests.length || a.id.localeCompare(b.id)) }
    },

    async kpis(project, window) {
      await fresh(project)
      return computeKpis(env, project, window)
    },

    async listRemediations(project, input) {
      const offset = offsetOf(input.nextToken)
      let q = env.db.selectFrom('insight_remediations').select('body').where('project', '=', project)
      if (input.status) q = q.where('status', '=', input.status)
      if (input.kind) q = q.where('kind', '=', input.kind)
      if (input.runId) q = q.where('run_id', '=', input.runId)
      const rows = await q.orderBy('created_at', 'desc').orderBy('id').limit(input.limit + 1).offset(offset).execute()
      return pageOf(
        rows.map((r) => JSON.parse(r.body) as Remediation),
        offset,
        input.limit,
      )
    },

    applyRemediation: async (project, id, actor, note) => applyByHand(env, project, id, actor, await remediationContext(), note),
    rejectRemediation: (project, id, actor, note) => rejectByHand(env, project, id, actor, note),

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
      await env.db
        .insertInto('insight_settings')
        .values({ project, body: JSON.stringify(next), updated_at: updatedAt })
        .onConflict((oc) => oc.column('project').doUpdateSet({ body: JSON.stringify(next), updated_at: updatedAt }))
        .execute()
      // The default branch decides "broken": re-judge everything under the new rule.
      if (branch !== cur.defaultBranch) await env.db.updateTable('insight_runs').set({ analyzed: 0 }).where('project', '=', project).execute()
      return loadSettings(env.db, project, cfg)
    },

    async analyze(project, o = {}) {
      const r = await analyses.run(project, () => analyzeProject(env, project, { full: o.full ?? true }))
      return { ...r, ms: Math.round(r.ms) }
    },
  }

  /** Tests with an armed snapshot-on-failure failed in this run: capture the sandbox (or flag it for CI). */
  async function fireArmedSnapshots(project: string, runId: string, failingTests: readonly string[], sandboxId: string | undefined, armed: readonly Remediation[]): Promise<void> {
    const failing = new Set(failingTests)
    for (const rem of armed) {
      if (!rem.testId || !failing.has(rem.testId)) continue
      const result = (rem.result ?? {}) as { captures?: unknown[] }
      if ((result.captures ?? []).length >= 3) continue
      let capture: Record<string, unknown> = { runId, at: new Date(env.clock.now()).toISOString() }
      if (sandboxId && actions.supports('snapshot_on_failure')) {
        try {
          const out = await actions.apply({ project, kind: 'snapshot_on_failure', params: { sandboxId, testId: rem.testId }, runId, testId: rem.testId })
          capture = { ...capture, ok: out.ok, detail: out.detail, ...(out.effect ? { effect: out.effect } : {}) }
        } catch (err) {
          capture = { ...capture, ok: false, detail: (err as Error).message }
        }
      } else capture = { ...capture, ok: false, detail: sandboxId ? 'no snapshot executor configured' : 'the run has no infra.sandboxId to snapshot' }
      rem.result = { ...result, captures: [...(result.captures ?? []), capture] }
      await env.db.updateTable('insight_remediations').set({ body: JSON.stringify(rem) }).where('project', '=', project).where('id', '=', rem.id).execute()
      await env.audit.append({ actor: 'insights', project, action: 'insights.remediation.capture', target: rem.id, outcome: capture.ok ? 'ok' : 'skipped', data: capture })
    }
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
