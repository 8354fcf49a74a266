/** @module audit/audit-log — append-only audit records in a SHA-256 hash chain over canonical JSON, with signed checkpoints. */
import type { AuditRecord, AuditResult, CallMeta } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Db } from '../store/db.js'
import { fromRow, hashText, toRow, type AuditBody } from './audit-row.js'
import { canonicalJson, jsonValue } from './canonical-json.js'
import { signCheckpoint, type Checkpoint } from './checkpoint.js'
import { checkHeadAtStart } from './head-check.js'
import { writeHead } from './head-file.js'
import type { AuditSigner } from './signing-key.js'
import { genesis, verifyAuditLog, type VerifyReport } from './verify.js'

export { recordHash } from './audit-row.js'

export interface AuditEntry {
  actor: string
  project: string
  action: string
  target?: string | undefined
  outcome: string
  requestId?: string | undefined
  data?: unknown
  /** The caller's CallMeta (run, parent call, prompt, model), when it gave one. */
  call?: CallMeta | undefined
  /** What a run's call returned (result-digest.ts). */
  result?: AuditResult | undefined
}

/** How the chain's head is signed: by whom, where the head file goes, and how often. */
export interface AuditSigning {
  key: AuditSigner
  headFile: string
  /** A checkpoint follows the first unsigned record by at most this long. */
  intervalMs: number
  /** ...or comes at once when this many records are unsigned. */
  everyRecords: number
  /** True when the key was made by this start (a store without checkpoints is then expected). */
  keyCreated: boolean
  log?: Logger | undefined
}

export class AuditLog {
  #tail: Promise<unknown> = Promise.resolve()
  #last?: { seq: number; hash: string }
  /** Serialises checkpoints (and online verification) among themselves. */
  #cpTail: Promise<unknown> = Promise.resolve()
  #signedSeq = 0
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly signing?: AuditSigning,
  ) {}

  /**
   * Start-up: refuses a store whose chain does not reach the signed head (AppError conflict), then
   * signs the current head — on a store from before signed checkpoints, this first checkpoint vouches
   * for every record already there.
   */
  async open(): Promise<void> {
    if (!this.signing) return
    const head = await checkHeadAtStart(this.db, this.signing.key, this.signing.headFile, this.signing.keyCreated)
    const cp = await this.db.selectFrom('audit_checkpoints').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst()
    this.#signedSeq = cp ? Number(cp.seq) : 0
    await this.#loadLast()
    // Without a head file (first start, an upgraded store, an operator's reset) one is written now,
    // even over an empty log (seq 0, the genesis hash): from here on a missing head file is news.
    await this.#checkpoint(head !== 'ok')
  }

  /**
   * Appends one record; resolves once it is durable. Appends are serialised in-process so the chain
   * has one order (one writer per store — replicas on PostgreSQL would take a row lock here).
   */
  append(entry: AuditEntry): Promise<AuditRecord> {
    const next = this.#tail.then(() => this.#write(entry))
    this.#tail = next.catch(() => undefined)
    return next
  }

  async #loadLast(): Promise<{ seq: number; hash: string }> {
    if (!this.#last) {
      const row = await this.db.selectFrom('audit').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst()
      this.#last = row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: genesis }
    }
    return this.#last
  }

  async #write(entry: AuditEntry): Promise<AuditRecord> {
    const last = await this.#loadLast()
    // jsonValue: whatever a caller passes (a bigint, a cycle, a lone surrogate) still makes a record.
    const text = (s: unknown) => (typeof s === 'string' ? s : String(s))
    const data = entry.data === undefined ? undefined : jsonValue(entry.data)
    const body: AuditBody = {
      seq: last.seq + 1,
      at: iso(this.clock.now()),
      actor: text(entry.actor),
      project: text(entry.project),
      action: text(entry.action),
      ...(entry.target !== undefined ? { target: text(entry.target) } : {}),
      outcome: text(entry.outcome),
      ...(entry.requestId !== undefined ? { requestId: text(entry.requestId) } : {}),
      ...(data !== undefined ? { data } : {}),
      ...(entry.call !== undefined ? { call: jsonValue(entry.call) as CallMeta } : {}),
      ...(entry.result !== undefined ? { result: jsonValue(entry.result) as AuditResult } : {}),
      prevHash: last.hash,
    }
    // The stored text is the hashed text: verification re-hashes it and never re-serialises.
    const canonical = canonicalJson(body)
    const record: AuditRecord = { ...body, hash: hashText(canonical) }
    await this.db.insertInto('audit').values(toRow(record, canonical)).execute()
    this.#last = { seq: record.seq, hash: record.hash }
    this.#schedule()
    return record
  }

  /** Coalesces signing: one timer per interval, or at once when many records wait. Off the append's path. */
  #schedule(): void {
    if (!this.signing || this.#closed) return
    const unsigned = this.#last!.seq - this.#signedSeq
    if (unsigned >= this.signing.everyRecords) {
      if (this.#timer) clearTimeout(this.#timer)
      this.#timer = undefined
      this.#background()
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        this.#background()
      }, this.signing.intervalMs)
      this.#timer.unref()
    }
  }

  #background(): void {
    this.checkpoint().catch((err: unknown) => this.signing?.log?.error({ err }, 'signing an audit checkpoint failed; the next one retries'))
  }

  /**
   * Signs the newest appended record (from memory, never re-read from the store, so a record edited
   * under a running server is not signed), writes the head file, then records the checkpoint.
   */
  checkpoint(): Promise<Checkpoint | undefined> {
    return this.#checkpoint(false)
  }

  #checkpoint(force: boolean): Promise<Checkpoint | undefined> {
    const run = this.#cpTail.then(async () => {
      if (!this.signing || !this.#last || (!force && this.#last.seq <= this.#signedSeq)) return undefined
      const c = signCheckpoint(this.signing.key, this.#last, iso(this.clock.now()))
      // Head file first: a crash between the two leaves the head ahead of the store's newest
      // checkpoint (harmless), never behind it (which verify reports as a rolled-back head).
      await writeHead(this.signing.headFile, c)
      // The genesis head (seq 0) lives in the head file only; a forced re-sign keeps the first row.
      if (c.seq > 0) {
        await this.db
          .insertInto('audit_checkpoints')
          .values({ seq: c.seq, hash: c.hash, at: c.at, key_id: c.keyId, signature: c.signature })
          .onConflict((oc) => oc.column('seq').doNothing())
          .execute()
      }
      this.#signedSeq = c.seq
      return c
    })
    this.#cpTail = run.catch(() => undefined)
    return run
  }

  /** Clean stop: waits for appends in flight and signs the final head, so nothing is left unsigned. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#tail
    await this.checkpoint()
  }

  async list(q: {
    project?: string | undefined
    target?: string | undefined
    action?: string | undefined
    run?: string | undefined
    afterSeq?: number | undefined
    limit: number
  }): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit').selectAll().orderBy('seq', 'asc').limit(q.limit)
    if (q.run) query = query.where('run_id', '=', q.run)
    if (q.project) query = query.where('project', '=', q.project)
    if (q.target) query = query.where('target', '=', q.target)
    if (q.action) query = query.where('action', '=', q.action)
    if (q.afterSeq !== undefined) query = query.where('seq', '>', q.afterSeq)
    return (await query.execute()).map(fromRow)
  }

  /**
   * Walks the whole chain and its checkpoints: any edited, removed, inserted or reordered record
   * breaks it, and so does deleting the newest ones. Signs the current head first, so records
   * appended since the last checkpoint are covered too.
   */
  async verify(): Promise<VerifyReport> {
    await this.#tail
    await this.checkpoint()
    const run = this.#cpTail.then(() => verifyAuditLog(this.db, { key: this.signing?.key, headFile: this.signing?.headFile }))
    this.#cpTail = run.catch(() => undefined)
    return run
  }
}
