/** @module gate/service — the sandbox-first gate's one service: targets, proposals, rehearsal, decision, approval, promotion. */
import type { GateTarget, Principal, Proposal } from '@tidepool/sdk'
import type { z } from 'zod'
import type { CreateGateTargetInput, CreateProposalInput } from '@tidepool/sdk'
import type { AuditLog } from '../audit/audit-log.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { OpenedStore } from '../store/db.js'
import { loadParser } from './classify.js'
import { GateConfig } from './config.js'
import { GateContext } from './gate-context.js'
import { Promoter } from './promote.js'
import { Proposals } from './proposals.js'
import type { GateData, GatePolicy } from './seams.js'
import { gateDb } from './tables.js'
import { Targets } from './targets.js'

type Page<T> = { items: T[]; nextToken?: string }
type PageQuery = { limit: number; nextToken?: string | undefined }

export interface GateService {
  createTarget(p: Principal, i: z.output<typeof CreateGateTargetInput>): Promise<GateTarget>
  listTargets(p: Principal, q: PageQuery): Promise<Page<GateTarget>>
  getTarget(p: Principal, idOrName: string): Promise<GateTarget>
  lockTarget(p: Principal, idOrName: string, reason: string, ttlSeconds: number): Promise<GateTarget>
  unlockTarget(p: Principal, idOrName: string, force: boolean): Promise<GateTarget>
  propose(p: Principal, i: z.output<typeof CreateProposalInput>): Promise<Proposal>
  listProposals(p: Principal, q: PageQuery & { target?: string | undefined; state?: string | undefined }): Promise<Page<Proposal>>
  getProposal(p: Principal, id: string): Promise<Proposal>
  rehearse(p: Principal, id: string): Promise<Proposal>
  override(p: Principal, id: string, reason: string): Promise<Proposal>
  approve(p: Principal, id: string, hash: string): Promise<Proposal>
  promote(p: Principal, id: string, hash: string): Promise<Proposal>
  rollback(p: Principal, id: string, reason: string): Promise<Proposal>
  /** Waits for work left after an answer (removing rehearsal clones); main.ts calls it before the data area closes. */
  settle(): Promise<void>
  /** Resolves promotions a crash interrupted (main.ts calls it at start). */
  recover(): Promise<{ resumed: number; reverted: number }>
}

export interface GateServiceDeps {
  config: { gate?: unknown }
  store: OpenedStore
  clock: Clock
  log: Logger
  audit: Pick<AuditLog, 'append'>
  data: GateData
  policy?: GatePolicy | undefined
}

export function createGateService(d: GateServiceDeps): GateService {
  const cfg = GateConfig.parse(d.config.gate ?? {})
  const db = gateDb(d.store.db)
  const log = d.log.child({ area: 'gate' })
  const targets = new Targets({ db, clock: d.clock, data: d.data, audit: d.audit })
  const ctx = new GateContext(db, cfg, d.clock, log, d.audit, d.data, d.policy, targets)
  const proposals = new Proposals(ctx)
  const promoter = new Promoter(ctx, proposals)
  // The parser's wasm loads on first use of a SQL operation, not at start.
  const parsed =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await loadParser()
      return fn(...a)
    }
  return {
    createTarget: (p, i) => targets.create(p, i),
    listTargets: (p, q) => targets.list(p, q),
    getTarget: async (p, id) => targets.view(await targets.row(p, id)),
    lockTarget: (p, id, reason, ttl) => targets.lock(p, id, reason, ttl),
    unlockTarget: (p, id, force) => targets.unlock(p, id, force),
    propose: parsed((p: Principal, i: z.output<typeof CreateProposalInput>) => proposals.create(p, i)),
    listProposals: (p, q) => proposals.list(p, q),
    getProposal: (p, id) => proposals.get(p, id),
    rehearse: (p, id) => proposals.rehearse(p, id),
    override: (p, id, reason) => proposals.override(p, id, reason),
    approve: (p, id, hash) => proposals.approve(p, id, hash),
    promote: parsed((p: Principal, id: string, hash: string) => promoter.promote(p, id, hash)),
    rollback: parsed((p: Principal, id: string, reason: string) => promoter.rollback(p, id, reason)),
    settle: () => ctx.settle(),
    recover: async () => {
      const left = await db.selectFrom('gate_proposals').select('id').where('state', 'in', ['promoting', 'promoted']).limit(1).executeTakeFirst()
      if (!left) return { resumed: 0, reverted: 0 }
      await loadParser()
      const r = await promoter.recover()
      log.info(r, 'gate: resolved promotions a restart interrupted')
      return r
    },
  }
}
