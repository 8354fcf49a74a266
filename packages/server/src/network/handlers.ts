/** @module network/handlers — handlers of the network operations: one call into the network service each, scoped to the caller's project. */
import type { NetworkOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { NetworkService } from './service.js'

/** The services the network area's handlers use. */
export interface NetworkAreaServices {
  network: NetworkService
}

export const networkHandlers: HandlerTable<NetworkOpName, NetworkAreaServices> = {
  getSandboxNetwork: async (i, ctx, svc) => svc.network.get(ctx.principal.project, i.id),
  patchSandboxNetwork: async (i, ctx, svc) => svc.network.patch(ctx.principal.project, i.id, i),
  listNetworkEvents: async (i, ctx, svc) => svc.network.listEvents(ctx.principal.project, i),
  listStubCalls: async (i, ctx, svc) => svc.network.listStubCalls(ctx.principal.project, i),
  getNetworkStats: async (_i, _ctx, svc) => svc.network.stats(),
  createSecret: async (i, ctx, svc) => svc.network.secrets.put(ctx.principal.project, i.name, i.value),
  listSecrets: async (_i, ctx, svc) => ({ items: await svc.network.secrets.list(ctx.principal.project) }),
  deleteSecret: async (i, ctx, svc) => svc.network.secrets.delete(ctx.principal.project, i.name),
}
