/** @module gate/gate-context — what the gate's parts share: its tables, config, clock, the seams, and the audit chain of a proposal. */
import type { Principal } from '@tidepool/sdk'
import type { AuditLog } from '../audit/audit-log.js'
import type { Clock } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { Classification } from './classify.js'
import type { GateConfig } from './config.js'
import type { EvidenceBundle } from './rehearse.js'
import type { GateData, GatePolicy } from './seams.js'
import type { GateDb, GateProposalRow } from './tables.js'
import type { Targets } from './targets.js'
import type { Decision } from './views.js'

/** The links of a proposal's audit chain, in the order they happen. */
export type ChainLink = 'proposed' | 'rehearsed' | 'evidence' | 'decision' | 'approval' | 'promoted' | 'verified' | 'rolled_back' | 'promotion_failed' | 'promotion_interrupted'

export class GateContext {
  constructor(
    readonly db: GateDb,
    readonly config: GateConfig,
    readonly clock: Clock,
    readonly log: Logger,
    readonly audit: Pick<AuditLog, 'append'>,
    readonly data: GateData,
    readonly policy: GatePolicy | undefined,
    readonly targets: Targets,
  ) {}

  now = (): string => new Date(this.clock.now()).toISOString()

  readonly #pending = new Set<Promise<void>>()

  /** Work that finishes after the call that started it answered; its failure is logged, and settle() waits for it. */
  background(work: Promise<void>, what: string): void {
    const p = work.catch((err: unknown) => this.log.error({ err }, `gate: ${what} failed`)).finally(() => this.#pending.delete(p))
    this.#pending.add(p)
  }

  /** Waits for background work (tests, benchmarks, close). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }

  /** One link of the chain proposed → rehearsed → evidence → decision → approval → promoted → verified | rolled back, with the proposal's hash. */
  async chain(p: Principal | string, link: ChainLink, row: GateProposalRow, data: unknown): Promise<void> {
    const actor = typeof p === 'string' ? p : p.tokenId
    await this.audit.append({
      actor,
      project: row.project,
      action: `gate:${link}`,
      target: row.id,
      outcome: 'ok',
      data: { proposal: row.id, hash: row.hash, target: row.target_id, ...(data as object) },
    })
  }

  /** The policy engine's answer for approve/promote (Cedar actions gate:approve, gate:promote); policy_denied naming why. */
  authorise(p: Principal, action: 'gate:approve' | 'gate:promote', row: GateProposalRow): void {
    if (!this.policy) return
    const plan = JSON.parse(row.classification) as Classification
    const evidence = row.evidence ? (JSON.parse(row.evidence) as EvidenceBundle) : undefined
    const decision = row.decision ? (JSON.parse(row.decision) as Decision) : undefined
    const d = this.policy.decide({
      principal: p,
      action,
      verdict: decision?.verdict ?? 'none',
      destructive: plan.destructive,
      heavyLocks: plan.heavyLocks,
      rowsChanged: evidence?.rowsChanged ?? 0,
      target: row.target_id,
    })
    if (!d.allow) throw new AppError('policy_denied', `${action} of ${row.id}: ${d.reason}`, { reason: 'gate_policy' })
  }
}
