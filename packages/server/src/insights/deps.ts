/** @module insights/deps — what the insights modules share: the store, config, clock, log and audit sink. */
import type SQLite from 'better-sqlite3'
import type { AuditEntry } from '../audit/audit-log.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { NewEvent } from '../kit/events.js'
import type { InsightsConfig } from './config.js'
import type { InsightsDb } from './tables.js'

/** The part of the audit log insights uses. */
export interface AuditSink {
  append(entry: AuditEntry): Promise<unknown>
}

/** The part of the event stream insights uses (kit/events EventLog). */
export interface EventSink {
  emit(e: NewEvent): Promise<void>
}

export interface InsightsEnv {
  db: InsightsDb
  dialect: 'sqlite' | 'postgres'
  /** Raw better-sqlite3 handle for the bulk hot paths (SQLite only). */
  sqlite?: SQLite.Database | undefined
  cfg: InsightsConfig
  clock: Clock
  log: Logger
  audit: AuditSink
  /** The event stream (rerun requests are announced on it); absent in unit tests that need none. */
  events?: EventSink | undefined
  /** Test ids known to exist per project: spares an insert per result on ingest. */
  knownTests: Map<string, Set<string>>
}

/** Splits a list into chunks (for IN lists and batched inserts). */
export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size))
  return out
}
