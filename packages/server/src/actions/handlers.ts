/** @module actions/handlers — handlers of the actions operations. */
import type { ActionsOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { ActionService } from './service.js'

/** The services the actions area's handlers use. */
export interface ActionsAreaServices {
  actions: ActionService
}

export const actionsHandlers: HandlerTable<ActionsOpName, ActionsAreaServices> = {
  listActions: async (_i, _ctx, svc) => ({ items: svc.actions.list() }),
  runAction: async (i, ctx, svc) => svc.actions.run(ctx.principal, i),
}
