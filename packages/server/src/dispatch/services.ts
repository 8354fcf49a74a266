/** @module dispatch/services — the services every handler can reach, wired by hand in main.ts. */
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { AuditLog } from '../audit/audit-log.js'
import type { EventLog } from '../kit/events.js'
import type { Runtime } from '../runtime/runtime.js'
import type { OpenedStore } from '../store/db.js'
import type { SandboxService } from '../sandboxes/sandboxes.js'
import type { CommandService } from '../sandboxes/commands.js'
import type { FileService } from '../sandboxes/files.js'
import type { TokenService } from '../access/tokens.js'
import type { InsightsService } from '../insights/service.js'
import type { DataService } from '../data/service.js'

export interface Services {
  config: Config
  store: OpenedStore
  clock: Clock
  log: Logger
  runtime: Runtime
  audit: AuditLog
  events: EventLog
  tokens: TokenService
  sandboxes: SandboxService
  commands: CommandService
  files: FileService
  insights: InsightsService
  data: DataService
}
