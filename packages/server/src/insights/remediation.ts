/** @module insights/remediation — decide proposed remediations (insights/recommend) through the gates, apply, audit every decision. */
import { decidedAutomatically, systemActors } from '../audit/system-actor.js'
import type { Remediation } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { RemediationAction, RemediationActions, RemediationKind, ActionOutcome } from './actions.js'
import type { InsightsEnv } from './deps.js'
import { evaluateGates, type GateFacts, type RemediationPolicy } from './gates.js'
import { loadSettings, parseJson } from './runs.js'
import { announceRerun, rerunRequestedEvent, rerunWithdrawnEvent } from './rerun-requests.js'
import { hour, day, internalKinds, type Proposal } from './recommend.js'
import type { RemediationRow, RunRow } from './tables.js'

export interface DecideContext {
  actions: RemediationActions
  policy: RemediationPolicy
}

/** Gate facts of a project, from the store. */
async function gateFacts(
  env: InsightsEnv,
  project: string,
  p: { kind: RemediationKind; runId?: string | undefined; testId?: string | undefined; params: Record<string, unknown> },
): Promise<GateFacts> {
  const now = env.clock.now()
  const recent = await env.db
    .selectFrom('insight_remediations')
    .select(['kind', 'status', 'run_id', 'decided_at', 'body'])
    .where('project', '=', project)
    .where('created_at', '>=', now - day)
    .execute()
  let autoLastHour = 0
  let rerunMinutesToday = 0
  let appliedRerunsForRun = 0
  for (const r of recent) {
    const body = parseJson<Remediation>(r.body)
    if (r.status === 'applied' && decidedAutomatically(body?.decidedBy) && (r.decided_at ?? 0) >= now - hour) autoLastHour++
    if (r.kind === 'rerun' && r.status === 'applied') {
      rerunMinutesToday += Number(body?.params.estimatedMinutes ?? 0)
      if (r.run_id === p.runId) appliedRerunsForRun++
    }
  }
  const run = p.runId ? await env.db.selectFrom('insight_runs').selectAll().where('project', '=', project).where('id', '=', p.runId).executeTakeFirst() : undefined
  const test = p.testId ? await env.db.selectFrom('insight_tests').select(['status', 'score']).where('project', '=', project).where('id', '=', p.testId).executeTakeFirst() : undefined
  const q = await env.db.selectFrom('insight_quarantine').select(['test_id']).where('project', '=', project).where('expires_at', '>', now).execute()
  const total = await env.db
    .selectFrom('insight_tests')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('project', '=', project)
    .executeTakeFirst()
  return {
    testStatus: test?.status as GateFacts['testStatus'],
    testScore: test?.score,
    alreadyQuarantined: p.testId ? q.some((x) => x.test_id === p.testId) : false,
    runRed: run ? run.failed > 0 : undefined,
    rerunTests: Array.isArray(p.params.tests) ? p.params.tests.length : undefined,
    rerunMinutes: Number(p.params.estimatedMinutes ?? 0),
    autoLastHour,
    rerunsForRun: (run ? run.attempt - 1 : 0) + appliedRerunsForRun,
    rerunMinutesToday,
    quarantined: q.length,
    totalTests: Number(total?.n ?? 0),
  }
}

async function dryRunOf(env: InsightsEnv, ctx: DecideContext, a: RemediationAction): Promise<ActionOutcome | undefined> {
  if (internalKinds(a.kind)) {
    if (a.kind === 'quarantine') return { ok: true, detail: `would quarantine ${a.testId} until ${String(a.params.expiresAt)}`, effect: { tests: 1 } }
    if (a.kind === 'rerun')
      return {
        ok: true,
        detail: `would request re-run attempt ${String(a.params.attempt)} of ${(a.params.tests as unknown[]).length} test(s)`,
        effect: { tests: (a.params.tests as unknown[]).length },
      }
    return {
      ok: true,
      detail: ctx.actions.supports('snapshot_on_failure')
        ? 'would arm a snapshot of the sandbox on the next failure'
        : 'would flag the next failure for capture (no snapshot executor: the CI job should upload one)',
      effect: { tests: 1 },
    }
  }
  if (!ctx.actions.supports(a.kind)) return undefined
  try {
    return await ctx.actions.dryRun(a)
  } catch (err) {
    return { ok: false, detail: `dry run failed: ${(err as Error).message}` }
  }
}

async function execute(env: InsightsEnv, ctx: DecideContext, a: RemediationAction, remId: string): Promise<ActionOutcome> {
  const now = env.clock.now()
  if (a.kind === 'quarantine') {
    await env.db
      .insertInto('insight_quarantine')
      .values({
        project: a.project,
        test_id: a.testId!,
        owner: String(a.params.owner),
        reason: `remediation ${remId}`,
        expires_at: Date.parse(String(a.params.expiresAt)),
        remediation_id: remId,
        created_at: now,
      })
      .onConflict((oc) => oc.columns(['project', 'test_id']).doUpdateSet({ owner: String(a.params.owner), expires_at: Date.parse(String(a.params.expiresAt)), remediation_id: remId }))
      .execute()
    return { ok: true, detail: `quarantined until ${String(a.params.expiresAt)}` }
  }
  if (a.kind === 'rerun')
    return { ok: true, detail: `re-run requested: announced as ${rerunRequestedEvent} and listed by GET /v1/insights/rerun-requests until a run answers it`, effect: { requested: true } }
  if (a.kind === 'snapshot_on_failure') return { ok: true, detail: 'armed: the next failure of this test is captured', effect: { armed: true } }
  try {
    return await ctx.actions.apply(a)
  } catch (err) {
    return { ok: false, detail: `${a.kind} failed: ${(err as Error).message}` }
  }
}

function toRow(r: Remediation): RemediationRow {
  return {
    project: r.project,
    id: r.id,
    run_id: r.runId ?? null,
    test_id: r.testId ?? null,
    kind: r.kind,
    status: r.status,
    mode: r.mode,
    arm: r.arm ?? null,
    created_at: Date.parse(r.createdAt),
    decided_at: r.decidedAt ? Date.parse(r.decidedAt) : null,
    body: JSON.stringify(r),
  }
}

async function save(env: InsightsEnv, r: Remediation): Promise<void> {
  const row = toRow(r)
  await env.db
    .insertInto('insight_remediations')
    .values(row)
    .onConflict((oc) => oc.columns(['project', 'id']).doUpdateSet({ status: row.status, decided_at: row.decided_at, body: row.body }))
    .execute()
}

async function auditDecision(env: InsightsEnv, r: Remediation, actor: string, action: string): Promise<void> {
  await env.audit.append({
    actor,
    project: r.project,
    action,
    target: r.id,
    outcome: r.status,
    data: { kind: r.kind, params: r.params, reason: r.reason, evidence: r.evidence, gates: r.gates, mode: r.mode, arm: r.arm, runId: r.runId, testId: r.testId, result: r.result },
  })
}

/** Decides each proposal for a run: gates, then suggest or apply by mode/arm. Every decision is stored and audited. */
export async function decide(env: InsightsEnv, project: string, run: RunRow, proposals: readonly Proposal[], ctx: DecideContext): Promise<Remediation[]> {
  const settings = await loadSettings(env.db, project, env.cfg)
  const mode: 'suggest' | 'auto' = run.arm === 'auto' || run.arm === 'suggest' ? run.arm : settings.mode === 'auto' ? 'auto' : 'suggest'
  const out: Remediation[] = []
  for (const p of proposals) {
    const action: RemediationAction = { project, kind: p.kind, params: p.params, runId: p.runId, testId: p.testId }
    const facts = await gateFacts(env, project, p)
    const dry = await dryRunOf(env, ctx, action)
    const policy = await ctx.policy.decide({ project, kind: p.kind, params: p.params, auto: true, actor: systemActors.remediation })
    const d = evaluateGates({ kind: p.kind, params: p.params, auto: true, mode, allowedActions: settings.allowedActions, cfg: env.cfg.remediation, facts, dryRun: dry, policy })
    const now = env.clock.now()
    const rem: Remediation = {
      id: newId('rem'),
      project,
      ...(p.runId ? { runId: p.runId } : {}),
      ...(p.testId ? { testId: p.testId } : {}),
      kind: p.kind,
      params: p.params,
      reason: p.reason,
      evidence: p.evidence,
      mode,
      ...(run.arm === 'auto' || run.arm === 'suggest' ? { arm: run.arm } : {}),
      status: d.refused ? 'refused' : 'suggested',
      gates: d.gates,
      createdAt: new Date(now).toISOString(),
      ...(d.refused ? { decidedAt: new Date(now).toISOString(), decidedBy: systemActors.remediation, result: { refusedBy: d.blockedBy?.gate, reason: d.blockedBy?.reason } } : {}),
    }
    if (!d.refused && d.mayApply) {
      const res = await execute(env, ctx, action, rem.id)
      rem.status = res.ok ? 'applied' : 'failed'
      rem.decidedAt = new Date(env.clock.now()).toISOString()
      rem.decidedBy = systemActors.remediation
      rem.result = { detail: res.detail, ...(res.effect ? { effect: res.effect } : {}) }
    } else if (!d.refused && d.blockedBy && d.blockedBy.gate !== 'mode') {
      rem.result = { notAppliedBecause: `${d.blockedBy.gate}: ${d.blockedBy.reason}` }
    }
    await save(env, rem)
    await auditDecision(env, rem, systemActors.remediation, 'insights.remediation.decide')
    if (rem.kind === 'rerun' && rem.status === 'applied') await announceRerun(env, rem, rerunRequestedEvent)
    out.push(rem)
  }
  return out
}

export async function getRemediation(env: InsightsEnv, project: string, id: string): Promise<Remediation> {
  const row = await env.db.selectFrom('insight_remediations').select('body').where('project', '=', project).where('id', '=', id).executeTakeFirst()
  if (!row) throw new AppError('not_found', `remediation ${id} not found`)
  return JSON.parse(row.body) as Remediation
}

/** A human applies a suggestion: every gate except allow-list, rate, budget and mode still applies. */
export async function applyByHand(env: InsightsEnv, project: string, id: string, actor: string, ctx: DecideContext, note?: string): Promise<Remediation> {
  const rem = await getRemediation(env, project, id)
  if (rem.status !== 'suggested' && rem.status !== 'failed') {
    throw new AppError('conflict', `remediation ${id} is ${rem.status}; only suggested (or failed) ones can be applied`)
  }
  const action: RemediationAction = { project, kind: rem.kind, params: rem.params, runId: rem.runId, testId: rem.testId }
  const facts = await gateFacts(env, project, { kind: rem.kind, runId: rem.runId, testId: rem.testId, params: rem.params })
  const dry = await dryRunOf(env, ctx, action)
  const policy = await ctx.policy.decide({ project, kind: rem.kind, params: rem.params, auto: false, actor })
  const settings = await loadSettings(env.db, project, env.cfg)
  const d = evaluateGates({ kind: rem.kind, params: rem.params, auto: false, mode: rem.mode, allowedActions: settings.allowedActions, cfg: env.cfg.remediation, facts, dryRun: dry, policy })
  const now = new Date(env.clock.now()).toISOString()
  rem.gates = d.gates
  if (!d.mayApply) {
    if (d.refused) {
      rem.status = 'refused'
      rem.decidedAt = now
      rem.decidedBy = actor
    }
    rem.result = { refusedBy: d.blockedBy?.gate, reason: d.blockedBy?.reason, ...(note ? { note } : {}) }
    await save(env, rem)
    await auditDecision(env, rem, actor, 'insights.remediation.apply')
    throw new AppError('policy_denied', `remediation ${id} (${rem.kind}) blocked by the ${d.blockedBy?.gate} gate: ${d.blockedBy?.reason}`, { gates: d.gates })
  }
  const res = await execute(env, ctx, action, rem.id)
  rem.status = res.ok ? 'applied' : 'failed'
  rem.decidedAt = now
  rem.decidedBy = actor
  rem.result = { detail: res.detail, ...(res.effect ? { effect: res.effect } : {}), ...(note ? { note } : {}) }
  await save(env, rem)
  await auditDecision(env, rem, actor, 'insights.remediation.apply')
  if (rem.kind === 'rerun' && rem.status === 'applied') await announceRerun(env, rem, rerunRequestedEvent)
  return rem
}

/** Kinds a rollback undoes through the executor (reading back that it took effect). */
const revertedByExecutor = new Set<RemediationKind>(['resize', 'reset_state', 'reseed', 'snapshot_on_failure'])

/**
 * A human rejects a suggestion or reverts an applied remediation. The rollback is an action of its own:
 * a quarantine is lifted; a rerun request is withdrawn (the CI no longer sees it pending); a resize goes
 * back to its previous size and the cgroup is read to check it did; a reset or re-seed puts the clones
 * back at the data snapshot taken before it; an armed snapshot-on-failure is disarmed. When the executor
 * cannot undo it (no executor, no previous size, the check fails) the revert is refused with `conflict`
 * and the remediation stays applied. Each rollback has its own audit record (insights.remediation.rollback)
 * with the check's outcome.
 */
export async function rejectByHand(env: InsightsEnv, project: string, id: string, actor: string, ctx: Pick<DecideContext, 'actions'>, note?: string): Promise<Remediation> {
  const rem = await getRemediation(env, project, id)
  let revert: ActionOutcome | undefined
  if (rem.status === 'suggested') rem.status = 'rejected'
  else if (rem.status === 'applied') {
    if (rem.kind === 'quarantine' && rem.testId) {
      await env.db.deleteFrom('insight_quarantine').where('project', '=', project).where('test_id', '=', rem.testId).where('remediation_id', '=', rem.id).execute()
      const left = await env.db.selectFrom('insight_quarantine').select('test_id').where('project', '=', project).where('remediation_id', '=', rem.id).executeTakeFirst()
      revert = { ok: !left, detail: 'quarantine lifted', effect: { check: { ok: !left, detail: left ? 'the quarantine is still there' : 'no quarantine of this remediation is left' } } }
    } else if (rem.kind === 'rerun') {
      revert = { ok: true, detail: 'rerun request withdrawn', effect: { check: { ok: true, detail: 'no longer listed as pending' } } }
    } else if (revertedByExecutor.has(rem.kind)) {
      const result = rem.result as { effect?: Record<string, unknown>; captures?: { effect?: { sandboxId?: unknown } }[] } | undefined
      // An armed snapshot's captures each armed the sandbox they snapshotted: the rollback disarms those too.
      const captured = (result?.captures ?? []).map((c) => c.effect?.sandboxId).filter((x): x is string => typeof x === 'string')
      const effect = captured.length ? { ...result?.effect, sandboxIds: captured } : result?.effect
      const action: RemediationAction = {
        project,
        kind: rem.kind,
        params: { ...(typeof effect?.sandboxId === 'string' ? { sandboxId: effect.sandboxId } : {}), ...rem.params },
        runId: rem.runId,
        testId: rem.testId,
      }
      revert = ctx.actions.revert
        ? await ctx.actions.revert(action, effect).catch((err: unknown) => ({ ok: false, detail: (err as Error).message }))
        : { ok: false, detail: `no executor can undo ${rem.kind}` }
    }
    if (revert) await auditRollback(env, rem, actor, revert)
    if (revert && !revert.ok) throw new AppError('conflict', `remediation ${id} (${rem.kind}) cannot be reverted: ${revert.detail}; it stays applied`)
    rem.status = 'reverted'
  } else throw new AppError('conflict', `remediation ${id} is ${rem.status}; only suggested or applied ones can be rejected or reverted`)
  rem.decidedAt = new Date(env.clock.now()).toISOString()
  rem.decidedBy = actor
  rem.result = {
    ...(rem.result as object | undefined),
    ...(note ? { note } : {}),
    [rem.status]: true,
    ...(revert ? { revert: { detail: revert.detail, ...(revert.effect ? { effect: revert.effect } : {}) } } : {}),
  }
  await save(env, rem)
  await auditDecision(env, rem, actor, 'insights.remediation.reject')
  if (rem.kind === 'rerun' && rem.status === 'reverted') await announceRerun(env, rem, rerunWithdrawnEvent)
  return rem
}

/** The rollback's own record: what was undone, by whom, and whether the check saw it take effect. */
export async function auditRollback(env: InsightsEnv, rem: Remediation, actor: string, out: ActionOutcome, action = 'insights.remediation.rollback'): Promise<void> {
  await env.audit.append({
    actor,
    project: rem.project,
    action,
    target: rem.id,
    outcome: out.ok ? 'ok' : 'failed',
    data: { kind: rem.kind, params: rem.params, runId: rem.runId, detail: out.detail, ...(out.effect ? { effect: out.effect } : {}) },
  })
}
