/**
 * @module gate/promote — promotion of an approved hash: the target's lock, its fingerprint against the
 * rehearsed one, the artifact in one transaction whose id is stored before it commits, then the
 * verification, and the rollback when it fails. After a crash, `recover` asks the target whether the
 * stored transaction committed: committed → the promotion resumes at verification; not → nothing was
 * applied, and the proposal is approved again. Never half-applied.
 */
import type { Principal, Proposal } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { classify, type Classification } from './classify.js'
import type { GateContext } from './gate-context.js'
import { connect, targetState, type EvidenceBundle } from './rehearse.js'
import { runArtifact, type TargetSettings } from './run-artifact.js'
import type { GateProposalRow, GateTargetRow } from './tables.js'
import type { Body, Decision, Promotion } from './views.js'
import type { Proposals } from './proposals.js'

/** How long a promotion holds the target's lock at most (a crash leaves it to lapse). */
const PROMOTION_LOCK_SECONDS = 900
const gateActor = 'system:gate'

export class Promoter {
  readonly #c: GateContext
  readonly #proposals: Proposals
  constructor(c: GateContext, proposals: Proposals) {
    this.#c = c
    this.#proposals = proposals
  }

  async promote(p: Principal, id: string, hash: string): Promise<Proposal> {
    const row = await this.#proposals.row(p, id)
    if (hash !== row.hash) throw new AppError('conflict', `hash ${hash} is not the hash of proposal ${id} (${row.hash}); only the approved hash is promoted`, { reason: 'gate_hash_mismatch' })
    const approval = row.approval ? (JSON.parse(row.approval) as { hash: string }) : undefined
    if (row.state !== 'approved' || !approval)
      throw new AppError('conflict', `proposal ${id} is ${row.state}; only an approved proposal is promoted`, { reason: 'gate_not_approved', state: row.state })
    if (approval.hash !== row.hash) throw new AppError('conflict', `the approval of ${id} is for hash ${approval.hash}, not ${row.hash}`, { reason: 'gate_hash_mismatch' })
    this.#c.authorise(p, 'gate:promote', row)
    const target = await this.#c.targets.row(p, row.target_id)
    const release = await this.#lock(target.id, p.tokenId, `promoting ${row.id}`)
    try {
      const plan = JSON.parse(row.classification) as Classification
      const decision = JSON.parse(row.decision ?? '{}') as Decision
      const evidence = row.evidence ? (JSON.parse(row.evidence) as EvidenceBundle) : undefined
      // A standing approval or a read-only artifact has no rehearsal to compare with; anything else must match it.
      if (decision.skip !== 'standing' && decision.skip !== 'read-only') {
        if (!evidence) throw new AppError('conflict', `proposal ${id} has no rehearsal evidence (overridden without one); rehearse it before promoting`, { reason: 'gate_no_evidence' })
        const now = await targetState(target.url, plan)
        if (now.fingerprint !== evidence.fingerprint)
          throw new AppError(
            'conflict',
            `target ${target.name} changed since proposal ${id} was rehearsed (fingerprint ${now.fingerprint.slice(0, 12)} ≠ ${evidence.fingerprint.slice(0, 12)}); rehearse it again (POST /v1/proposals/${id}/rehearse)`,
            {
              reason: 'gate_stale',
            },
          )
      }
      const moved = await this.#c.db
        .updateTable('gate_proposals')
        .set({ state: 'promoting', promotion: JSON.stringify({ by: p.tokenId, startedAt: this.#c.now() } satisfies Promotion) })
        .where('id', '=', id)
        .where('state', '=', 'approved')
        .executeTakeFirst()
      if (Number(moved.numUpdatedRows) !== 1) throw new AppError('conflict', `proposal ${id} is being promoted by another call`, { reason: 'gate_state' })
      await this.#apply(p.tokenId, { ...row, state: 'promoting' }, target, plan)
    } finally {
      await release()
    }
    return this.#proposals.get(p, id)
  }

  /** Runs the artifact on the target; then verification, and the rollback when it fails. */
  async #apply(actor: string, row: GateProposalRow, target: GateTargetRow, plan: Classification): Promise<void> {
    const settings = JSON.parse(target.settings) as TargetSettings
    const db = await connect(target.url, 'tidepool-gate-promotion')
    // A backend notices a vanished client (this process killed) within a second even mid-statement, and aborts.
    await db.query('SET client_connection_check_interval = 1000').catch(() => undefined)
    let promotion = JSON.parse(row.promotion ?? '{}') as Promotion
    try {
      const run = await runArtifact(db, plan, settings, {
        commit: true,
        readOnly: plan.category === 'read-only',
        // Stored before the artifact's first statement: after a crash the target says whether it committed.
        begun: async (xid) => {
          await this.#c.db.updateTable('gate_proposals').set({ promote_xid: xid }).where('id', '=', row.id).execute()
        },
      })
      if (!run.ok) {
        promotion = { ...promotion, finishedAt: this.#c.now(), error: `the artifact failed on the target${run.error?.statement ? ` at statement ${run.error.statement}` : ''}: ${run.error?.message}` }
        await this.#set(row.id, 'failed', promotion)
        await this.#revokeStanding(row)
        await this.#c.chain(actor, 'promotion_failed', row, { error: promotion.error, applied: false })
        return
      }
      await this.#set(row.id, 'promoted', promotion)
      await this.#c.chain(actor, 'promoted', row, { rowsChanged: [...run.changes.values()].reduce((n, c) => n + c.inserted + c.updated + c.deleted, 0) })
    } finally {
      await db.end().catch(() => undefined)
    }
    await this.#verify(actor, row, target, promotion)
  }

  /** The verification; on failure the rollback runs (when there is one) and the proposal is failed. */
  async #verify(actor: string, row: GateProposalRow, target: GateTargetRow, promotion: Promotion): Promise<void> {
    const body = JSON.parse(row.body) as Body
    const settings = JSON.parse(target.settings) as TargetSettings
    const failure = body.verify ? await this.#check(target.url, body.verify, settings) : undefined
    if (failure === undefined) {
      await this.#set(row.id, 'verified', { ...promotion, finishedAt: this.#c.now(), verified: true })
      await this.#c.chain(actor, 'verified', row, { verify: body.verify !== undefined })
      return
    }
    await this.#revokeStanding(row)
    const rolled = body.rollback ? await this.#runRollback(target, body.rollback, settings) : 'there is no rollback'
    const done: Promotion = {
      ...promotion,
      finishedAt: this.#c.now(),
      verified: false,
      rolledBack: rolled === undefined,
      error: `verification failed: ${failure}${rolled ? `; rollback not done: ${rolled}` : ''}`,
    }
    await this.#set(row.id, rolled === undefined ? 'rolled_back' : 'failed', done)
    await this.#c.chain(actor, rolled === undefined ? 'rolled_back' : 'promotion_failed', row, { verification: failure, rollback: rolled ?? 'ok' })
  }

  /** Runs the rollback of a promoted (or verified) proposal by hand. */
  async rollback(p: Principal, id: string, reason: string): Promise<Proposal> {
    const row = await this.#proposals.row(p, id)
    if (!['promoted', 'verified'].includes(row.state))
      throw new AppError('conflict', `proposal ${id} is ${row.state}; only a promoted proposal is rolled back`, { reason: 'gate_state', state: row.state })
    const body = JSON.parse(row.body) as Body
    if (!body.rollback) throw new AppError('conflict', `proposal ${id} has no rollback`, { reason: 'gate_no_rollback' })
    this.#c.authorise(p, 'gate:promote', row)
    const target = await this.#c.targets.row(p, row.target_id)
    const release = await this.#lock(target.id, p.tokenId, `rolling back ${row.id}`)
    try {
      const failed = await this.#runRollback(target, body.rollback, JSON.parse(target.settings) as TargetSettings)
      if (failed) throw new AppError('conflict', `the rollback of ${id} failed on the target (nothing of it was applied): ${failed}`, { reason: 'gate_rollback_failed' })
      const promotion = JSON.parse(row.promotion ?? '{}') as Promotion
      await this.#set(id, 'rolled_back', { ...promotion, rolledBack: true, finishedAt: this.#c.now() })
      await this.#c.chain(p, 'rolled_back', row, { reason, by: 'hand' })
    } finally {
      await release()
    }
    return this.#proposals.get(p, id)
  }

  /**
   * The target's lock for one promotion or rollback: taken, and released after; a lock the caller already
   * holds (taken by hand for a window of changes) is used as it is and kept.
   */
  async #lock(targetId: string, owner: string, reason: string): Promise<() => Promise<void>> {
    if ((await this.#c.targets.liveLock(targetId))?.owner === owner) return async () => undefined
    await this.#c.targets.acquire(targetId, owner, reason, PROMOTION_LOCK_SECONDS)
    return () => this.#c.targets.release(targetId, owner)
  }

  /**
   * After a restart: every proposal left promoting is resolved by its stored transaction id (committed →
   * promoted, and verification resumes; aborted or never begun → approved again, nothing applied); one
   * left promoted resumes its verification.
   */
  async recover(): Promise<{ resumed: number; reverted: number }> {
    let resumed = 0
    let reverted = 0
    const rows = await this.#c.db.selectFrom('gate_proposals').selectAll().where('state', 'in', ['promoting', 'promoted']).execute()
    for (const row of rows) {
      const target = await this.#c.db.selectFrom('gate_targets').selectAll().where('id', '=', row.target_id).executeTakeFirstOrThrow()
      const promotion = JSON.parse(row.promotion ?? '{}') as Promotion
      if (row.state === 'promoting') {
        const status = row.promote_xid ? await this.#xidStatus(target.url, row.promote_xid) : 'aborted'
        if (status !== 'committed') {
          await this.#c.db
            .updateTable('gate_proposals')
            .set({
              state: 'approved',
              promote_xid: null,
              promotion: JSON.stringify({ ...promotion, finishedAt: this.#c.now(), error: 'interrupted by a restart before its transaction committed: nothing was applied; promote again' }),
            })
            .where('id', '=', row.id)
            .execute()
          await this.#c.chain(gateActor, 'promotion_interrupted', row, { xid: row.promote_xid, applied: false })
          reverted++
          continue
        }
        await this.#set(row.id, 'promoted', promotion)
        await this.#c.chain(gateActor, 'promoted', row, { xid: row.promote_xid, recovered: true })
      }
      await this.#verify(gateActor, row, target, promotion)
      resumed++
    }
    return { resumed, reverted }
  }

  /** txid_status of a stored transaction, waiting while the old backend is still winding down. */
  async #xidStatus(url: string, xid: string): Promise<string> {
    const db = await connect(url, 'tidepool-gate-recover')
    try {
      for (let i = 0; ; i++) {
        const r = await db.query<{ s: string | null }>('SELECT txid_status($1::bigint) AS s', [xid])
        const s = r.rows[0]?.s ?? 'aborted'
        if (s !== 'in progress' || i >= 300) return s
        // Still open: its backend has not noticed that our dead process is gone. Ending it aborts the
        // transaction (it was this store's, recorded before its first statement; no one else has its id).
        if (i === 0) await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_xid::text::bigint = $1::bigint % 4294967296', [xid])
        await new Promise((res) => setTimeout(res, 100))
      }
    } finally {
      await db.end().catch(() => undefined)
    }
  }

  /** The verification's failure (undefined: it passed): an error, or a first row whose first column is false or null. */
  async #check(url: string, verify: string, settings: TargetSettings): Promise<string | undefined> {
    const db = await connect(url, 'tidepool-gate-verify')
    try {
      const plan = classify(verify, 'verify')
      await db.query('BEGIN READ ONLY')
      await db.query(`SET LOCAL statement_timeout = ${Math.trunc(settings.statementTimeoutMs)}`)
      for (const s of plan.statements) {
        const r = await db.query(s.sql).catch((err: Error) => err)
        if (r instanceof Error) return `statement ${s.index + 1}: ${r.message}`
        const first = r.rows[0] as Record<string, unknown> | undefined
        const value = first ? Object.values(first)[0] : true
        if (value === false || value === null || value === 'f') return `statement ${s.index + 1} returned ${JSON.stringify(value)}`
      }
      return undefined
    } finally {
      await db.query('ROLLBACK').catch(() => undefined)
      await db.end().catch(() => undefined)
    }
  }

  /** Runs a rollback in one transaction; its error (nothing of it applied), or undefined. */
  async #runRollback(target: GateTargetRow, sql: string, settings: TargetSettings): Promise<string | undefined> {
    const db = await connect(target.url, 'tidepool-gate-rollback')
    try {
      const run = await runArtifact(db, classify(sql, 'rollback'), settings, { commit: true })
      return run.ok ? undefined : (run.error?.message ?? 'failed')
    } finally {
      await db.end().catch(() => undefined)
    }
  }

  async #set(id: string, state: string, promotion: Promotion): Promise<void> {
    await this.#c.db
      .updateTable('gate_proposals')
      .set({ state, promotion: JSON.stringify(promotion) })
      .where('id', '=', id)
      .execute()
  }

  /** A promotion that failed revokes the standing approval of its artifact on its target. */
  async #revokeStanding(row: GateProposalRow): Promise<void> {
    await this.#c.db
      .insertInto('gate_rehearsals')
      .values({ id: newId('grh', 12), target_id: row.target_id, artifact_hash: row.artifact_hash, proposal_id: row.id, verdict: 'failed', at: this.#c.now() })
      .execute()
  }
}
