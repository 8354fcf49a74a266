/**
 * @module replay/replay — `POST /v1/audit/replay`: an agent run's recorded calls re-issued, in seq order,
 * through `dispatch` (so policy, scopes and the audit apply to each as if the caller made it), against a
 * fresh sandbox standing in for the first one the run used; each result compared with the recorded one.
 *
 * The replay is a run of its own (`replayRun`): each call carries the original's prompt and model, its
 * parentId mapped to the replayed parent, and `parameters.replayOf` = the original call's requestId.
 */
import type { AuditRecord, CallMeta, OpName, ReplayReport, ReplayStep } from '@tidepool/sdk'
import { AppError, codeOf } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { ByteStream } from '../kit/byte-stream.js'
import { StreamResult, type Ctx } from '../kit/context.js'
import type { AuditLog } from '../audit/audit-log.js'
import { maxGraphRecords } from '../audit/decision-graph.js'
import { compareStep, idsIn, mapIds, refusalOf, resultSuffix, rewriteIds, type Side } from './replay-plan.js'
import { auditResultOf } from '../audit/result-digest.js'

/** Re-issues one operation as the caller (dispatch, bound to the services). */
export type ReplayCall = (name: OpName, input: unknown, ctx: Ctx) => Promise<unknown>

export interface ReplayOptions {
  run: string
  keep: boolean
  create?: Record<string, unknown> | undefined
}

/** Something the replay created, with the original it stands in for. */
interface Made {
  original?: string
  fresh: string
  kind: 'sandbox' | 'snapshot'
  destroyed?: boolean
}

const maxParameters = 32
const isSandboxId = (s: string) => s.startsWith('sbx_')

/** Replays `opts.run` as the caller of `ctx`: reads the run's records, re-issues them, compares, cleans up. */
export async function replayRun(opts: ReplayOptions, ctx: Ctx, audit: AuditLog, call: ReplayCall): Promise<ReplayReport> {
  const project = ctx.principal.scopes.includes('admin') ? undefined : ctx.principal.project
  const all = await audit.list({ project, run: opts.run, limit: maxGraphRecords + 1 })
  if (all.length === 0) throw new AppError('not_found', `run ${opts.run} has no audit records${project ? ` in project ${project}` : ''}`)
  const records = all.slice(0, maxGraphRecords)
  const ends = new Map<string, AuditRecord>()
  for (const r of records) if (r.action.endsWith(resultSuffix) && r.requestId !== undefined) ends.set(r.requestId, r)

  const replayRunId = newId('rpl', 12)
  const ids = new Map<string, string>() // original id → the replay's
  const parents = new Map<string, string>() // original requestId → replayed requestId
  const made: Made[] = []
  const created = createdByRun(records)
  const first = firstSandbox(records, created)
  const steps: ReplayStep[] = []

  const metaFor = (r: AuditRecord | undefined): CallMeta => {
    const c = r?.call ?? {}
    const params = { ...(c.parameters ?? {}) }
    if (Object.keys(params).length < maxParameters) params.replayOf = r?.requestId ?? (r ? `seq ${r.seq}` : 'setup')
    // The replayed parent, when the original's parent was a call of the run; else no parent.
    return { ...c, runId: replayRunId, parentId: c.parentId !== undefined ? parents.get(c.parentId) : undefined, parameters: params }
  }
  const ctxFor = (r: AuditRecord | undefined, stream: boolean): Ctx => ({
    principal: ctx.principal,
    requestId: newId('req', 12),
    log: ctx.log,
    stream,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    meta: dropUndefined(metaFor(r)),
  })
  const noteMade = (before: ReadonlySet<string>) => {
    for (const [original, fresh] of ids) {
      if (before.has(original)) continue
      if (isSandboxId(fresh)) made.push({ original, fresh, kind: 'sandbox' })
      else if (fresh.startsWith('snap_')) made.push({ original, fresh, kind: 'snapshot' })
    }
  }

  try {
    // The first sandbox the run used but did not create is replaced by one the replay creates.
    if (first && !first.created) {
      const sbx = (await call('createSandbox', opts.create ?? {}, ctxFor(undefined, false))) as { id: string }
      ids.set(first.id, sbx.id)
      made.push({ original: first.id, fresh: sbx.id, kind: 'sandbox' })
    }
    for (const r of records) {
      if (ctx.signal?.aborted) {
        steps.push(step(r, { status: 'skipped', reason: 'the caller went away' }))
        continue
      }
      const recordedInput = opts.create && first?.created && r.action === 'createSandbox' && r.target === first.id ? opts.create : r.data
      const refusal = refusalOf(r.action, recordedInput)
      if (refusal) {
        steps.push(step(r, refusal))
        continue
      }
      const blocked = blockedBy(recordedInput, ids, created, first?.id)
      if (blocked) {
        steps.push(step(r, { status: 'skipped', reason: blocked }))
        continue
      }
      const end = r.requestId !== undefined ? ends.get(r.requestId) : undefined
      const c = ctxFor(r, end !== undefined)
      const recorded: Side = end ? { outcome: r.outcome === 'ok' ? end.outcome : r.outcome, result: end.result } : { outcome: r.outcome, result: r.result }
      const before = new Set(ids.keys())
      const replayed = await issue(call, r.action as OpName, rewriteIds(recordedInput ?? {}, ids), c)
      if (replayed.outcome === 'ok' && recorded.outcome === 'ok') {
        if (recorded.result) mapIds(recorded.result.preview, replayed.result?.preview, ids)
        else if (r.target !== undefined && !ids.has(r.target) && created.has(r.target) && typeof replayed.id === 'string') ids.set(r.target, replayed.id)
      }
      noteMade(before)
      if (r.requestId !== undefined) parents.set(r.requestId, c.requestId)
      const cmp = compareStep(recorded, replayed)
      steps.push({
        ...step(r, cmp),
        requestId: c.requestId,
        recorded: sideOut(recorded),
        replayed: sideOut(replayed),
      })
    }
  } finally {
    if (!opts.keep) await destroy(made, ctx, call)
  }
  const count = (s: ReplayStep['status']) => steps.filter((x) => x.status === s).length
  const summary = { same: count('same'), differs: count('differs'), failed: count('failed'), unverified: count('unverified'), skipped: count('skipped'), notReplayable: count('not_replayable') }
  return {
    run: opts.run,
    replayRun: replayRunId,
    sandboxes: made.filter((m) => m.kind === 'sandbox').map((m) => ({ ...(m.original !== undefined ? { original: m.original } : {}), fresh: m.fresh, destroyed: !opts.keep && m.destroyed === true })),
    truncated: all.length > records.length,
    steps,
    summary,
    ok: summary.differs === 0 && summary.failed === 0,
  }
}

/** Re-issues one call and reads its result as the audit would keep it (a stream drained to its last line). */
async function issue(call: ReplayCall, name: OpName, input: unknown, c: Ctx): Promise<Side & { id?: unknown }> {
  try {
    let result = await call(name, input, c)
    if (result instanceof StreamResult) {
      let last: unknown
      for await (const line of result.lines) last = line
      return { outcome: 'ok', result: auditResultOf(last, true) }
    }
    if (result instanceof ByteStream) {
      await result.cancel()
      result = { returned: 'bytes' }
    } else if (result instanceof Uint8Array) result = { returned: 'bytes' }
    const id = result && typeof result === 'object' ? (result as { id?: unknown }).id : undefined
    return { outcome: 'ok', result: auditResultOf(result), id }
  } catch (err) {
    return { outcome: codeOf(err), message: err instanceof AppError ? err.message : undefined }
  }
}

/** Destroys what the replay made, sandboxes first (a snapshot is kept while a sandbox started from it lives). */
async function destroy(made: Made[], ctx: Ctx, call: ReplayCall): Promise<void> {
  for (const kind of ['sandbox', 'snapshot'] as const) {
    for (const m of made.filter((x) => x.kind === kind)) {
      const c: Ctx = { principal: ctx.principal, requestId: newId('req', 12), log: ctx.log }
      try {
        await call(kind === 'sandbox' ? 'deleteSandbox' : 'deleteSnapshot', { id: m.fresh }, c)
        m.destroyed = true
      } catch (err) {
        m.destroyed = codeOf(err) === 'not_found' // the replayed run deleted it itself
        if (!m.destroyed) ctx.log.warn({ err, id: m.fresh }, 'replay: could not destroy what it made')
      }
    }
  }
}

/** Ids the run itself created: those in a call's result that were not in its input. */
function createdByRun(records: readonly AuditRecord[]): Set<string> {
  const out = new Set<string>()
  for (const r of records) {
    if (r.outcome !== 'ok') continue
    const input = idsIn(r.data)
    if (r.result) for (const id of idsIn(r.result.preview)) if (!input.has(id)) out.add(id)
    if (r.action === 'createSandbox' && r.target !== undefined) out.add(r.target)
  }
  return out
}

/** The first sandbox the run used: one it created, or one that existed before it. */
function firstSandbox(records: readonly AuditRecord[], created: ReadonlySet<string>): { id: string; created: boolean } | undefined {
  for (const r of records) {
    if (r.action === 'createSandbox' && r.outcome === 'ok' && r.target !== undefined) return { id: r.target, created: true }
    if (refusalOf(r.action, undefined)?.status === 'skipped') continue
    for (const id of idsIn(r.data)) if (isSandboxId(id)) return { id, created: created.has(id) }
  }
  return undefined
}

/** Why an input cannot be sent: it names something the replay did not recreate, or a sandbox outside the run. */
function blockedBy(input: unknown, ids: ReadonlyMap<string, string>, created: ReadonlySet<string>, first: string | undefined): string | undefined {
  for (const id of idsIn(input)) {
    if (ids.has(id)) continue
    if (created.has(id)) return `it acts on ${id}, which the replay did not recreate`
    if (isSandboxId(id) && id !== first) return `it acts on ${id}, a sandbox the run did not create (only the first sandbox it used is replaced)`
  }
  return undefined
}

function step(r: AuditRecord, s: { status: ReplayStep['status']; reason?: string | undefined }): ReplayStep {
  return { seq: r.seq, action: r.action, ...(r.target !== undefined ? { target: r.target } : {}), status: s.status, ...(s.reason !== undefined ? { reason: s.reason } : {}) }
}

function sideOut(s: Side): NonNullable<ReplayStep['recorded']> {
  return { outcome: s.outcome, ...(s.result ? { digest: s.result.digest, preview: s.result.preview } : {}) }
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
