/** @module audit/audit-log — append-only audit records in a SHA-256 hash chain over canonical JSON. */
import { createHash } from 'node:crypto'
import type { AuditRecord } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import type { Db } from '../store/db.js'
import type { AuditRow } from '../store/schema.js'
import { canonicalJson } from './canonical-json.js'

export interface AuditEntry {
  actor: string
  project: string
  action: string
  target?: string | undefined
  outcome: string
  requestId?: string | undefined
  data?: unknown
}

const genesis = '0'.repeat(64)

/** The hashed content of a record: every field but `hash` itself, chained through `prevHash`. */
export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(r)).digest('hex')
}

export class AuditLog {
  #tail: Promise<unknown> = Promise.resolve()
  #last?: { seq: number; hash: string }

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends one record; resolves once it is durable. Appends are serialised in-process so the chain
   * has one order (one writer per store — replicas on PostgreSQL would take a row lock here).
   */
  append(entry: AuditEntry): Promise<AuditRecord> {
    const next = this.#tail.then(() => this.#write(entry))
    this.#tail = next.catch(() => undefined)
    return next
  }

  async #write(entry: AuditEntry): Promise<AuditRecord> {
    if (!this.#last) {
      const row = await this.db.selectFrom('audit').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst()
      this.#last = row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: genesis }
    }
    const body: Omit<AuditRecord, 'hash'> = {
      seq: this.#last.seq + 1,
      at: iso(this.clock.now()),
      actor: entry.actor,
      project: entry.project,
      action: entry.action,
      ...(entry.target !== undefined ? { target: entry.target } : {}),
      outcome: entry.outcome,
      ...(entry.requestId !== undefined ? { requestId: entry.requestId } : {}),
      ...(entry.data !== undefined ? { data: JSON.parse(JSON.stringify(entry.data)) as unknown } : {}),
      prevHash: this.#last.hash,
    }
    const record: AuditRecord = { ...body, hash: recordHash(body) }
    await this.db.insertInto('audit').values(toRow(record)).execute()
    this.#last = { seq: record.seq, hash: record.hash }
    return record
  }

  async list(q: { project?: string; target?: string; action?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit').selectAll().orderBy('seq', 'asc').limit(q.limit)
    if (q.project) query = query.where('project', '=', q.project)
    if (q.target) query = query.where('target', '=', q.target)
    if (q.action) query = query.where('action', '=', q.action)
    if (q.afterSeq !== undefined) query = query.where('seq', '>', q.afterSeq)
    return (await query.execute()).map(fromRow)
  }

  /** Walks the whole chain: any edited, removed, inserted or reordered record breaks it. */
  async verify(): Promise<{ ok: boolean; records: number; problems: { seq: number; problem: string }[] }> {
    const problems: { seq: number; problem: string }[] = []
    let prev = genesis
    let expectedSeq = 1
    let records = 0
    let afterSeq = 0
    for (;;) {
      const rows = await this.db.selectFrom('audit').selectAll().where('seq', '>', afterSeq).orderBy('seq', 'asc').limit(5000).execute()
      if (rows.length === 0) break
      for (const row of rows) {
        const r = fromRow(row)
        records++
        if (r.seq !== expectedSeq) problems.push({ seq: r.seq, problem: `expected seq ${expectedSeq}: a record was removed or inserted` })
        if (r.prevHash !== prev) problems.push({ seq: r.seq, problem: 'prevHash does not match the previous record: records were removed or reordered' })
        const { hash, ...body } = r
        if (recordHash(body) !== hash) problems.push({ seq: r.seq, problem: 'hash does not match the content: the record was edited' })
        prev = hash
        expectedSeq = r.seq + 1
        afterSeq = r.seq
      }
    }
    return { ok: problems.length === 0, records, problems }
  }
}

function toRow(r: AuditRecord): AuditRow {
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    project: r.project,
    action: r.action,
    target: r.target ?? null,
    outcome: r.outcome,
    request_id: r.requestId ?? null,
    data: r.data === undefined ? null : JSON.stringify(r.data),
    prev_hash: r.prevHash,
    hash: r.hash,
  }
}

function fromRow(row: AuditRow): AuditRecord {
  return {
    seq: Number(row.seq),
    at: row.at,
    actor: row.actor,
    project: row.project,
    action: row.action,
    ...(row.target !== null ? { target: row.target } : {}),
    outcome: row.outcome,
    ...(row.request_id !== null ? { requestId: row.request_id } : {}),
    ...(row.data !== null ? { data: JSON.parse(row.data) as unknown } : {}),
    prevHash: row.prev_hash,
    hash: row.hash,
  }
}
