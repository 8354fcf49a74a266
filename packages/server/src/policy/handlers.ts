/** @module policy/handlers — the policy set in force and its reload. */
import type { PolicyOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { PolicyGate } from './gate.js'

export interface PolicyAreaServices {
  policy: PolicyGate
}

export const policyHandlers: HandlerTable<PolicyOpName, PolicyAreaServices> = {
  getPolicy: async (_i, _ctx, svc) => svc.policy.engine.status(),
  reloadPolicy: async (_i, _ctx, svc) => svc.policy.reload(),
}
