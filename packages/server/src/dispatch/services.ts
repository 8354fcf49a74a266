/** @module dispatch/services — the services every handler can reach, wired by hand in main.ts: each area's, and the shared ones. */
import { join } from 'node:path'
import type { OpName } from '@tidepool/sdk'
import type { Ctx } from '../kit/context.js'
import type { AccessAreaServices } from '../access/handlers.js'
import type { ActionsAreaServices } from '../actions/handlers.js'
import type { WorkflowsAreaServices } from '../actions/workflows/handlers.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { DataAreaServices } from '../data/handlers.js'
import type { EnvironmentsAreaServices } from '../environments/handlers.js'
import type { GateAreaServices } from '../gate/handlers.js'
import type { InsightsAreaServices } from '../insights/handlers.js'
import type { NetworkAreaServices } from '../network/handlers.js'
import type { PortsAreaServices } from '../ports/handlers.js'
import type { PolicyAreaServices } from '../policy/handlers.js'
import { UID_BASE } from '../runtime/local/start-sandbox.js'
import type { Runtime } from '../runtime/runtime.js'
import type { SandboxAreaServices } from '../sandboxes/handlers.js'
import type { OpenedStore } from '../store/db.js'
import type { TemplatesAreaServices } from '../templates/handlers.js'
import type { WebhooksAreaServices } from '../webhooks/handlers.js'
import type { TemplateUsage } from '../kit/template-seam.js'
import type { NetworkSeam } from '../kit/network-seam.js'
import { importImage, removeImage } from '../templates/oci/index.js'
import { TemplateService } from '../templates/service.js'

export interface Services
  extends
    SandboxAreaServices,
    AccessAreaServices,
    InsightsAreaServices,
    DataAreaServices,
    TemplatesAreaServices,
    ActionsAreaServices,
    NetworkAreaServices,
    PortsAreaServices,
    WorkflowsAreaServices,
    PolicyAreaServices,
    EnvironmentsAreaServices,
    WebhooksAreaServices,
    GateAreaServices {
  config: Config
  store: OpenedStore
  clock: Clock
  log: Logger
  runtime: Runtime
  /** `dispatch` bound to these services, for a handler that re-issues calls as its caller (replay); wired in main.ts, so no handler imports dispatch. */
  redispatch: (name: OpName, input: unknown, ctx: Ctx) => Promise<unknown>
}

/**
 * The templates service, wired: build sandboxes get the configured default resources; `usage` comes
 * from the sandboxes area (main.ts hands in SandboxService.liveSandboxesUsing: no area reads another's tables).
 */
export function createTemplateService(d: { config: Config; store: OpenedStore; clock: Clock; log: Logger; runtime: Runtime }, usage: TemplateUsage, network?: NetworkSeam): TemplateService {
  const { cpu, memoryMb, pids, diskMb } = d.config.defaults
  return new TemplateService({
    db: d.store.db,
    runtime: d.runtime,
    clock: d.clock,
    log: d.log.child({ area: 'templates' }),
    usage,
    buildResources: { cpu, memoryMb, pids, diskMb },
    importImage,
    removeImage,
    imageStoreDir: join(d.config.home, 'images'),
    uidBase: UID_BASE,
    registries: d.config.templates.registries,
    network,
  })
}
