/**
 * @module gate/proposals — proposals: content-hashed and immutable once made; classified, rehearsed and
 * decided; overridden or approved (never by the proposer, always for the hash reviewed).
 */
import { createHash } from 'node:crypto'
import type { Principal, Proposal } from '@tidepool/sdk'
import type { z } from 'zod'
import type { CreateProposalInput } from '@tidepool/sdk'
import { canonicalJson } from '../audit/canonical-json.js'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { decodeCursor } from '../kit/cursor.js'
import { pageOf } from '../kit/page.js'
import { classify, type Classification } from './classify.js'
import type { GateConfig } from './config.js'
import { decide, type Verdict } from './decide.js'
import type { GateContext } from './gate-context.js'
import { rehearse, type EvidenceBundle } from './rehearse.js'
import type { TargetSettings } from './run-artifact.js'
import type { GateProposalRow } from './tables.js'
import { proposalView, type Body, type Decision } from './views.js'

type CreateInput = z.output<typeof CreateProposalInput>

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

/** The proposal's hash: sha256 of the canonical JSON of everything an approver reviews. */
export function proposalHash(targetId: string, body: Body): string {
  return sha256(canonicalJson({ target: targetId, ...body }))
}

export class Proposals {
  readonly #c: GateContext
  constructor(c: GateContext) {
    this.#c = c
  }

  async create(p: Principal, i: CreateInput): Promise<Proposal> {
    const target = await this.#c.targets.row(p, i.target)
    // Parse everything first: SQL that does not parse is refused before anything is stored.
    const plan = classify(i.artifact, 'artifact')
    if (i.rollback) classify(i.rollback, 'rollback')
    if (i.verify) classify(i.verify, 'verify')
    if (!plan.transactional)
      throw new AppError(
        'invalid_request',
        `artifact: statement ${plan.statements.find((s) => !s.transactional)!.index + 1} (${plan.statements.find((s) => !s.transactional)!.kind}) cannot run inside a transaction; the gate applies an artifact in one transaction (so a crash never half-applies it): propose it on its own outside the gate`,
        { reason: 'gate_not_transactional' },
      )
    const body: Body = {
      kind: i.kind,
      artifact: i.artifact,
      ...(i.rollback !== undefined ? { rollback: i.rollback } : {}),
      ...(i.verify !== undefined ? { verify: i.verify } : {}),
      intent: i.intent,
      expect: i.expect,
    }
    const row: GateProposalRow = {
      id: newId('prop', 12),
      project: p.project,
      target_id: target.id,
      hash: proposalHash(target.id, body),
      artifact_hash: sha256(i.artifact),
      body: JSON.stringify(body),
      proposer: p.tokenId,
      state: 'proposed',
      classification: JSON.stringify(plan),
      evidence: null,
      decision: null,
      approval: null,
      promotion: null,
      promote_xid: null,
      created_at: this.#c.now(),
    }
    await this.#c.db.insertInto('gate_proposals').values(row).execute()
    await this.#c.chain(p, 'proposed', row, { hash: row.hash, category: plan.category, destructive: plan.destructive, heavyLocks: plan.heavyLocks })
    // Skip rules: read-only, or a standing approval of this very artifact on this target.
    if (plan.category === 'read-only')
      return this.#decided(p, row, { verdict: 'pass', reasons: ['read-only: every statement only reads; it is promoted in a READ ONLY transaction'], skip: 'read-only' })
    const standing = await this.standing(target.id, row.artifact_hash)
    if (standing.earned) {
      const decided = await this.#decided(
        p,
        row,
        { verdict: 'pass', reasons: [`standing approval: ${standing.clean} clean identical rehearsals since ${standing.since}`], skip: 'standing' },
        'rehearsed',
      )
      const approval = { by: 'system:gate-standing', hash: row.hash, at: this.#c.now() }
      await this.#update(row.id, { state: 'approved', approval: JSON.stringify(approval) })
      await this.#c.chain(p, 'approval', row, { ...approval, standing: true })
      return decided.state === 'rehearsed' ? this.get(p, row.id) : decided
    }
    if (!i.rehearse) return this.view(row)
    return this.rehearse(p, row.id)
  }

  async row(p: Principal, id: string): Promise<GateProposalRow> {
    const row = await this.#c.db.selectFrom('gate_proposals').selectAll().where('id', '=', id).where('project', '=', p.project).executeTakeFirst()
    if (!row) throw notFound('proposal', id)
    return row
  }

  view = (row: GateProposalRow): Proposal => proposalView(row)
  get = async (p: Principal, id: string): Promise<Proposal> => this.view(await this.row(p, id))

  async list(p: Principal, q: { limit: number; nextToken?: string | undefined; target?: string | undefined; state?: string | undefined }): Promise<{ items: Proposal[]; nextToken?: string }> {
    const targetId = q.target ? (await this.#c.targets.row(p, q.target)).id : undefined
    let query = this.#c.db
      .selectFrom('gate_proposals')
      .selectAll()
      .where('project', '=', p.project)
      .orderBy('id')
      .limit(q.limit + 1)
    const after = decodeCursor(q.nextToken)
    if (after) query = query.where('id', '>', after)
    if (targetId) query = query.where('target_id', '=', targetId)
    if (q.state) query = query.where('state', '=', q.state)
    const page = pageOf(await query.execute(), q.limit)
    return { ...page, items: page.items.map(this.view) }
  }

  /** Clean identical rehearsals of an artifact on a target in the window, counted after its last failure. */
  async standing(targetId: string, artifactHash: string): Promise<{ earned: boolean; clean: number; since: string }> {
    const cfg = this.#c.config.standingApproval
    const windowStart = new Date(this.#c.clock.now() - cfg.windowSeconds * 1000).toISOString()
    const lastFailure = await this.#c.db
      .selectFrom('gate_rehearsals')
      .select((eb) => eb.fn.max('at').as('at'))
      .where('target_id', '=', targetId)
      .where('artifact_hash', '=', artifactHash)
      .where('verdict', '!=', 'pass')
      .executeTakeFirst()
    const since = lastFailure?.at && lastFailure.at > windowStart ? lastFailure.at : windowStart
    const clean = await this.#c.db
      .selectFrom('gate_rehearsals')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('target_id', '=', targetId)
      .where('artifact_hash', '=', artifactHash)
      .where('verdict', '=', 'pass')
      .where('at', '>', since)
      .executeTakeFirst()
    const n = Number(clean?.n ?? 0)
    return { earned: n >= cfg.after, clean: n, since }
  }

  /** Rehearses on a fresh clone and decides. Allowed before approval, and again when the target went stale. */
  async rehearse(p: Principal, id: string): Promise<Proposal> {
    const row = await this.row(p, id)
    if (!['proposed', 'rehearsed', 'approved'].includes(row.state))
      throw new AppError('conflict', `proposal ${id} is ${row.state}; only a proposal not yet promoted is rehearsed`, { reason: 'gate_state', state: row.state })
    const target = await this.#c.targets.row(p, row.target_id)
    const plan = JSON.parse(row.classification) as Classification
    let evidence: EvidenceBundle
    try {
      evidence = await rehearse(this.#c.data, {
        principal: p,
        mirrorId: target.mirror_id,
        targetUrl: target.url,
        plan,
        settings: JSON.parse(target.settings) as TargetSettings,
        cloneTtlSeconds: this.#c.config.cloneTtlSeconds,
        now: this.#c.now,
        background: (work) => this.#c.background(work, 'removing a rehearsal clone'),
      })
    } catch (err) {
      // No evidence never passes: the proposal stays undecided, and says why.
      const d = decide(plan, undefined, JSON.parse(row.body).expect, this.#c.config)
      await this.#decided(p, row, { ...d, reasons: [...d.reasons, `rehearsal failed: ${(err as Error).message}`] }, 'proposed')
      throw err
    }
    await this.#update(row.id, { evidence: JSON.stringify(evidence), approval: null })
    await this.#c.chain(p, 'rehearsed', row, { mirror: target.mirror_id, fingerprint: evidence.fingerprint })
    await this.#c.chain(p, 'evidence', row, { evidenceHash: evidence.hash, rowsChanged: evidence.rowsChanged, error: evidence.error?.message, droppedWithData: evidence.droppedWithData })
    const d = decide(plan, evidence, (JSON.parse(row.body) as Body).expect, this.#c.config)
    await this.#c.db
      .insertInto('gate_rehearsals')
      .values({ id: newId('grh', 12), target_id: row.target_id, artifact_hash: row.artifact_hash, proposal_id: row.id, verdict: d.verdict, at: this.#c.now() })
      .execute()
    return this.#decided(p, row, d, 'rehearsed')
  }

  /** Operator override: pass, with a reason, by someone other than the proposer. */
  async override(p: Principal, id: string, reason: string): Promise<Proposal> {
    const row = await this.row(p, id)
    this.#notProposer(p, row, 'override')
    if (!['proposed', 'rehearsed'].includes(row.state))
      throw new AppError('conflict', `proposal ${id} is ${row.state}; only an undecided or rehearsed proposal is overridden`, { reason: 'gate_state', state: row.state })
    return this.#decided(p, row, { verdict: 'pass', reasons: [`operator override by ${p.tokenId}: ${reason}`], skip: 'override' }, row.state === 'proposed' ? 'rehearsed' : row.state)
  }

  async approve(p: Principal, id: string, hash: string): Promise<Proposal> {
    const row = await this.row(p, id)
    if (hash !== row.hash)
      throw new AppError('conflict', `hash ${hash} is not the hash of proposal ${id} (${row.hash}); review the proposal you approve and pass its hash`, { reason: 'gate_hash_mismatch' })
    this.#notProposer(p, row, 'approve')
    if (row.state !== 'rehearsed') throw new AppError('conflict', `proposal ${id} is ${row.state}; only a rehearsed proposal with a pass is approved`, { reason: 'gate_state', state: row.state })
    const decision = row.decision ? (JSON.parse(row.decision) as Decision) : undefined
    if (decision?.verdict !== 'pass')
      throw new AppError('conflict', `proposal ${id}'s verdict is ${decision?.verdict ?? 'none'}; only a pass is approved (fix the artifact, re-rehearse, or an operator overrides)`, {
        reason: 'gate_not_passed',
      })
    // The rollback plan comes before approval: a change that writes is approved only with one to show.
    if (!(JSON.parse(row.body) as Body).rollback && (JSON.parse(row.classification) as Classification).category !== 'read-only')
      throw new AppError('conflict', `proposal ${id} writes but has no rollback; propose it again with a rollback plan (the approver sees it before approving)`, { reason: 'gate_no_rollback' })
    this.#c.authorise(p, 'gate:approve', row)
    const approval = { by: p.tokenId, hash: row.hash, at: this.#c.now() }
    const done = await this.#c.db
      .updateTable('gate_proposals')
      .set({ state: 'approved', approval: JSON.stringify(approval) })
      .where('id', '=', id)
      .where('state', '=', 'rehearsed')
      .executeTakeFirst()
    if (Number(done.numUpdatedRows) !== 1) throw new AppError('conflict', `proposal ${id} changed while it was being approved; get it again`, { reason: 'gate_state' })
    await this.#c.chain(p, 'approval', row, approval)
    return this.get(p, id)
  }

  #notProposer(p: Principal, row: GateProposalRow, what: string): void {
    if (p.tokenId === row.proposer) throw new AppError('policy_denied', `the proposer of ${row.id} may not ${what} it; another principal with gate:approve does`, { reason: 'gate_self_approval' })
  }

  async #decided(p: Principal, row: GateProposalRow, d: { verdict: Verdict; reasons: string[]; skip?: Decision['skip'] }, state?: string): Promise<Proposal> {
    const decision: Decision = { verdict: d.verdict, reasons: d.reasons, ...(d.skip ? { skip: d.skip } : {}), at: this.#c.now() }
    await this.#update(row.id, { decision: JSON.stringify(decision), ...(state ? { state } : d.skip ? { state: 'rehearsed' } : {}) })
    await this.#c.chain(p, 'decision', row, decision)
    return this.get(p, row.id)
  }

  async #update(id: string, set: Partial<Pick<GateProposalRow, 'state' | 'evidence' | 'decision' | 'approval' | 'promotion' | 'promote_xid'>>): Promise<void> {
    await this.#c.db.updateTable('gate_proposals').set(set).where('id', '=', id).execute()
  }
}
