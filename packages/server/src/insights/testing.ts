/** @module insights/testing — a real in-memory store and an insights service over it, for tests and the benchmark. */
import type { AuditEntry } from '../audit/audit-log.js'
import type { Config } from '../config.js'
import type { Clock } from '../core/clock.js'
import { silentLogger } from '../core/log.js'
import { openStore, type OpenedStore } from '../store/db.js'
import { createInsightsService, type InsightsOptions, type InsightsService } from './service.js'

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public t = Date.parse('2026-01-05T08:00:00Z')) {}
  now(): number {
    return this.t
  }
  advance(ms: number): void {
    this.t += ms
  }
}

/** Keeps audit entries in memory. */
export class MemoryAudit {
  readonly entries: AuditEntry[] = []
  async append(entry: AuditEntry): Promise<AuditEntry> {
    this.entries.push(entry)
    return entry
  }
}

export interface TestInsights {
  store: OpenedStore
  svc: InsightsService
  clock: ManualClock
  audit: MemoryAudit
  close(): Promise<void>
}

export async function testInsights(opts: InsightsOptions & { insights?: Partial<Config['insights']> | Record<string, unknown>; url?: string } = {}): Promise<TestInsights> {
  const store = await openStore(opts.url ?? ':memory:')
  const clock = new ManualClock()
  const audit = new MemoryAudit()
  const svc = createInsightsService({ config: { insights: (opts.insights ?? {}) as Config['insights'] }, store, clock, log: silentLogger, audit }, opts)
  return { store, svc, clock, audit, close: () => store.close() }
}
