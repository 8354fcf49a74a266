/** @module gate/handlers — handlers of the gate's operations: one call into the gate service each, as the caller. */
import type { GateOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { GateService } from './service.js'

/** The services the gate's handlers use. */
export interface GateAreaServices {
  gate: GateService
}

export const gateHandlers: HandlerTable<GateOpName, GateAreaServices> = {
  createGateTarget: async (i, ctx, svc) => svc.gate.createTarget(ctx.principal, i),
  listGateTargets: async (i, ctx, svc) => svc.gate.listTargets(ctx.principal, i),
  getGateTarget: async (i, ctx, svc) => svc.gate.getTarget(ctx.principal, i.id),
  lockGateTarget: async (i, ctx, svc) => svc.gate.lockTarget(ctx.principal, i.id, i.reason, i.ttlSeconds),
  unlockGateTarget: async (i, ctx, svc) => svc.gate.unlockTarget(ctx.principal, i.id, i.force === 'true'),
  createProposal: async (i, ctx, svc) => svc.gate.propose(ctx.principal, i),
  listProposals: async (i, ctx, svc) => svc.gate.listProposals(ctx.principal, i),
  getProposal: async (i, ctx, svc) => svc.gate.getProposal(ctx.principal, i.id),
  rehearseProposal: async (i, ctx, svc) => svc.gate.rehearse(ctx.principal, i.id),
  overrideProposal: async (i, ctx, svc) => svc.gate.override(ctx.principal, i.id, i.reason),
  approveProposal: async (i, ctx, svc) => svc.gate.approve(ctx.principal, i.id, i.hash),
  promoteProposal: async (i, ctx, svc) => svc.gate.promote(ctx.principal, i.id, i.hash),
  rollbackProposal: async (i, ctx, svc) => svc.gate.rollback(ctx.principal, i.id, i.reason),
}
