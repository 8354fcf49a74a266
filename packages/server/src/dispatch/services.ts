/** @module dispatch/services — the services every handler can reach, wired by hand in main.ts: each area's, and the shared ones. */
import type { AccessAreaServices } from '../access/handlers.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { DataAreaServices } from '../data/handlers.js'
import type { InsightsAreaServices } from '../insights/handlers.js'
import type { Runtime } from '../runtime/runtime.js'
import type { SandboxAreaServices } from '../sandboxes/handlers.js'
import type { OpenedStore } from '../store/db.js'

export interface Services extends SandboxAreaServices, AccessAreaServices, InsightsAreaServices, DataAreaServices {
  config: Config
  store: OpenedStore
  clock: Clock
  log: Logger
  runtime: Runtime
}
