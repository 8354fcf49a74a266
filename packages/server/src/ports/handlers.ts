/** @module ports/handlers — handlers of the port operations. */
import type { PortsOpName } from '@tidepool/sdk'
import { TunnelResult } from '../kit/context.js'
import type { HandlerTable } from '../kit/handler-table.js'
import type { PortService } from './service.js'

/** The services the ports area's handlers use. */
export interface PortsAreaServices {
  ports: PortService
}

export const portsHandlers: HandlerTable<PortsOpName, PortsAreaServices> = {
  // The HTTP shell relays the request over this stream (http/port-proxy.ts).
  connectPort: async (i, ctx, svc) => new TunnelResult(await svc.ports.connect(ctx.principal, i.id, i.port)),
  setPortPublic: async (i, ctx, svc) => svc.ports.setPublic(ctx.principal, i.id, i.port, i.enabled),
}
