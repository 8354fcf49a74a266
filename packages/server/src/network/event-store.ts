/**
 * @module network/event-store — egress events in the store: written in batches off the proxy's path
 * (an attempt never waits for the database), kept to a bounded number, listed newest first.
 */
import type { NetworkEvent } from '@tidepool/sdk'
import type { Insertable, Selectable } from 'kysely'
import type { Logger } from '../core/log.js'
import { decodeCursor } from '../kit/cursor.js'
import { pageOf, type Page } from '../kit/page.js'
import type { EgressEvent } from './egress-types.js'
import { parseStored, type NetworkDb, type NetworkEventRow } from './tables.js'

/** Events waiting beyond this are dropped (and counted) rather than held: memory stays bounded if the store stalls. */
const MAX_PENDING = 10_000
const BATCH = 500
const WRITE_DELAY_MS = 50
/** Retention runs after this many writes. */
const PRUNE_EVERY = 1000

export interface EventQuery {
  project: string
  sandboxId?: string | undefined
  verdict?: string | undefined
  host?: string | undefined
  stub?: string | undefined
  limit: number
  nextToken?: string | undefined
  order: 'newest' | 'oldest'
}

export class NetworkEventStore {
  #pending: EgressEvent[] = []
  #writing: Promise<void> | undefined
  #sincePrune = 0
  #timer: NodeJS.Timeout | undefined
  dropped = 0

  constructor(private readonly d: { db: NetworkDb; log: Logger; retain: number }) {}

  /** Queue one event; written shortly after. */
  record(e: EgressEvent): void {
    if (this.#pending.length >= MAX_PENDING) {
      this.dropped++
      return
    }
    this.#pending.push(e)
    // Batched: one insert per WRITE_DELAY_MS (or per BATCH events) instead of one per attempt, so a busy
    // proxy spends its loop on traffic, not on statements (SQLite runs on this thread).
    if (this.#pending.length >= BATCH) this.#kick()
    else if (!this.#writing && !this.#timer) {
      this.#timer = setTimeout(() => this.#kick(), WRITE_DELAY_MS)
      this.#timer.unref()
    }
  }

  #kick(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    // Started after the assignment (a microtask later), so a drain that finds nothing cannot finish before it is recorded as running.
    this.#writing ??= Promise.resolve().then(() => this.#drain())
  }

  /** Everything recorded so far is in the store. */
  async flush(): Promise<void> {
    if (this.#pending.length > 0) this.#kick()
    while (this.#writing) await this.#writing
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, BATCH)
        try {
          await this.d.db.insertInto('network_events').values(batch.map(toRow)).execute()
        } catch (err) {
          this.d.log.error({ err, events: batch.length }, 'network: writing egress events failed')
        }
        this.#sincePrune += batch.length
        if (this.#sincePrune >= PRUNE_EVERY) {
          this.#sincePrune = 0
          await this.#prune()
        }
      }
    } finally {
      this.#writing = undefined
    }
  }

  async #prune(): Promise<void> {
    const last = await this.d.db
      .selectFrom('network_events')
      .select((e) => e.fn.max('seq').as('seq'))
      .executeTakeFirst()
    const top = Number(last?.seq ?? 0)
    if (top > this.d.retain)
      await this.d.db
        .deleteFrom('network_events')
        .where('seq', '<=', top - this.d.retain)
        .execute()
  }

  async list(q: EventQuery): Promise<Page<NetworkEvent>> {
    await this.flush() // read your writes
    const after = decodeCursor(q.nextToken)
    let query = this.d.db.selectFrom('network_events').selectAll().where('project', '=', q.project)
    if (q.sandboxId) query = query.where('sandbox_id', '=', q.sandboxId)
    if (q.verdict) query = query.where('verdict', '=', q.verdict)
    if (q.host) query = query.where('host', '=', q.host)
    if (q.stub) query = query.where('stub', '=', q.stub)
    if (after !== undefined) query = query.where('seq', q.order === 'newest' ? '<' : '>', Number(after))
    const rows = await query
      .orderBy('seq', q.order === 'newest' ? 'desc' : 'asc')
      .limit(q.limit + 1)
      .execute()
    return pageOf(rows.map(fromRow), q.limit, (e) => String(e.seq))
  }
}

function toRow(e: EgressEvent): Insertable<NetworkEventRow> {
  return {
    at: e.at,
    project: e.project,
    sandbox_id: e.sandboxId,
    protocol: e.protocol,
    host: e.host,
    port: e.port,
    verdict: e.verdict,
    rule: e.rule.slice(0, 1024),
    bytes_up: e.bytesUp,
    bytes_down: e.bytesDown,
    stub: e.stub ?? null,
    call: e.call ? JSON.stringify(e.call) : null,
  }
}

function fromRow(r: Selectable<NetworkEventRow>): NetworkEvent {
  return {
    seq: Number(r.seq),
    at: r.at,
    sandboxId: r.sandbox_id,
    protocol: r.protocol as NetworkEvent['protocol'],
    host: r.host,
    port: Number(r.port),
    verdict: r.verdict as NetworkEvent['verdict'],
    rule: r.rule,
    bytesUp: Number(r.bytes_up),
    bytesDown: Number(r.bytes_down),
    ...(r.stub ? { stub: r.stub } : {}),
    ...(r.call ? { call: parseStored<NonNullable<NetworkEvent['call']>>(r.call) } : {}),
  }
}
