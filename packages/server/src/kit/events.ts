/** @module kit/events — the event stream every state change feeds (audit trail per sandbox, metering, insights). */
import type { SandboxEvent } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import type { Db } from '../store/db.js'
import type { EventRow } from '../store/schema.js'

export interface NewEvent {
  project: string
  sandboxId: string
  kind: string
  actor: string
  data?: Record<string, unknown>
}

export type EventListener = (e: SandboxEvent & { project: string }) => void

export class EventLog {
  #listeners = new Set<EventListener>()

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async emit(e: NewEvent): Promise<void> {
    const row = {
      at: iso(this.clock.now()),
      project: e.project,
      sandbox_id: e.sandboxId,
      kind: e.kind,
      actor: e.actor,
      data: JSON.stringify(e.data ?? {}),
    }
    const inserted = await this.db.insertInto('events').values(row).returning('seq').executeTakeFirstOrThrow()
    const event = fromRow({ ...row, seq: Number(inserted.seq) })
    for (const l of this.#listeners) l({ ...event, project: e.project })
  }

  subscribe(l: EventListener): () => void {
    this.#listeners.add(l)
    return () => this.#listeners.delete(l)
  }

  async list(q: { sandboxId: string; afterSeq?: number; limit: number }): Promise<SandboxEvent[]> {
    let query = this.db.selectFrom('events').selectAll().where('sandbox_id', '=', q.sandboxId).orderBy('seq', 'asc').limit(q.limit)
    if (q.afterSeq !== undefined) query = query.where('seq', '>', q.afterSeq)
    return (await query.execute()).map(fromRow)
  }
}

function fromRow(r: Omit<EventRow, 'seq'> & { seq: number }): SandboxEvent {
  return { seq: Number(r.seq), at: r.at, sandboxId: r.sandbox_id, kind: r.kind, actor: r.actor, data: JSON.parse(r.data) as Record<string, unknown> }
}
