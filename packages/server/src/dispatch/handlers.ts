/** @module dispatch/handlers — one handler per operation: the areas' tables composed, checked against the whole operation table. */
import type { OpName, Operations } from '@tidepool/sdk'
import { accessHandlers } from '../access/handlers.js'
import { replayRun } from '../replay/replay.js'
import { actionsHandlers } from '../actions/handlers.js'
import { workflowsHandlers } from '../actions/workflows/handlers.js'
import { dataHandlers } from '../data/handlers.js'
import { environmentsHandlers } from '../environments/handlers.js'
import { gateHandlers } from '../gate/handlers.js'
import { insightsHandlers } from '../insights/handlers.js'
import type { Ctx } from '../kit/context.js'
import type { HandlerInput, HandlerTable } from '../kit/handler-table.js'
import { networkHandlers } from '../network/handlers.js'
import { policyHandlers } from '../policy/handlers.js'
import { portsHandlers } from '../ports/handlers.js'
import { sandboxHandlers } from '../sandboxes/handlers.js'
import { templatesHandlers } from '../templates/handlers.js'
import { snapshotHandlers } from '../sandboxes/snapshot-handlers.js'
import { webhooksHandlers } from '../webhooks/handlers.js'
import type { Services } from './services.js'

const composed = {
  ...sandboxHandlers,
  ...accessHandlers,
  ...insightsHandlers,
  ...dataHandlers,
  ...templatesHandlers,
  ...snapshotHandlers,
  ...actionsHandlers,
  ...networkHandlers,
  ...portsHandlers,
  ...workflowsHandlers,
  ...policyHandlers,
  // A replay re-issues a run's calls through dispatch itself, so each one is authorised and audited.
  replayRun: (i: HandlerInput<Operations['replayRun']>, ctx: Ctx, svc: Services) => replayRun(i, ctx, svc.audit, svc.redispatch),
  ...environmentsHandlers,
  ...webhooksHandlers,
  ...gateHandlers,
}

/** Every operation has a handler that fits its schemas (a missing one does not compile). */
export const handlers: HandlerTable<OpName, Services> = composed

/** And no handler is left for an operation the table no longer has (spreads escape excess-property checks). */
const _noStrayHandler: Record<Exclude<keyof typeof composed, OpName>, never> = {}
void _noStrayHandler
