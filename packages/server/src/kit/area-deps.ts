/** @module kit/area-deps — what main.ts hands to each area's service factory. */
import type { AuditLog } from '../audit/audit-log.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Runtime } from '../runtime/runtime.js'
import type { OpenedStore } from '../store/db.js'
import type { EventLog } from './events.js'

export interface AreaDeps {
  config: Config
  store: OpenedStore
  clock: Clock
  log: Logger
  audit: AuditLog
  events: EventLog
  runtime: Runtime
}
