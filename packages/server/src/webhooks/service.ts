/** @module webhooks/service — subscriptions per project, and the durable queue that delivers their events (signed, retried with backoff, logged). */
import { randomBytes } from 'node:crypto'
import type { CreatedWebhook, OpInput, Principal, Webhook, WebhookDelivery, WebhookEvent } from '@tidepool/sdk'
import { type Clock, iso } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { Logger } from '../core/log.js'
import { decodeCursor } from '../kit/cursor.js'
import { type Page, pageOf } from '../kit/page.js'
import type { Db } from '../store/opened-store.js'
import { backoffDelay } from './backoff.js'
import type { WebhooksConfig } from './config.js'
import { deliveryHeader, eventHeader, newWebhookSecret, signatureHeader, signDelivery, timestampHeader } from './signing.js'
import { type DeliveryRow, webhooksDb, type WebhookRow } from './tables.js'
import { checkDeliveryUrl } from './url-policy.js'

/** The part of `fetch` deliveries use (a test hands in its own). */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; redirect: 'manual'; signal: AbortSignal }) => Promise<{ status: number }>

export interface WebhookServiceDeps {
  db: Db
  clock: Clock
  log: Logger
  cfg: WebhooksConfig
  fetch?: FetchLike
  random?: () => number
}

/** One event as the in-process listeners (the GitHub adapter) see it. */
export interface PublishedEvent {
  project: string
  event: WebhookEvent
  data: Record<string, unknown>
}

type P = Pick<Principal, 'project' | 'tokenId'>
type Attempt = WebhookDelivery['log'][number]

/** Due deliveries one pass takes at most. */
const batch = 32
/** Bytes of a receiver's error text kept in the log. */
const maxErrorText = 300

export class WebhookService {
  readonly #listeners = new Set<(e: PublishedEvent) => void>()
  readonly #inFlight = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #draining: Promise<void> | undefined
  #again = false
  #closed = false

  constructor(private readonly deps: WebhookServiceDeps) {}

  async create(p: P, input: OpInput<'createWebhook'>): Promise<CreatedWebhook> {
    checkDeliveryUrl(input.url, this.deps.cfg.allowedUrls)
    const row: WebhookRow = {
      id: newId('whk', 12),
      project: p.project,
      url: input.url,
      events: JSON.stringify([...input.events].sort()),
      secret: newWebhookSecret(),
      description: input.description ?? null,
      created_by: p.tokenId,
      created_at: iso(this.deps.clock.now()),
    }
    await webhooksDb(this.deps.db).insertInto('webhooks').values(row).execute()
    return { ...view(row), secret: row.secret }
  }

  async list(p: P, input: { limit: number; nextToken?: string | undefined }): Promise<Page<Webhook>> {
    const after = decodeCursor(input.nextToken)
    let q = webhooksDb(this.deps.db).selectFrom('webhooks').selectAll().where('project', '=', p.project)
    if (after !== undefined) q = q.where('id', '>', after)
    const rows = await q
      .orderBy('id')
      .limit(input.limit + 1)
      .execute()
    return pageOf(rows.map(view), input.limit)
  }

  /** Idempotent: an unknown (or foreign) id is fine. Its deliveries go with it, pending ones included. */
  async delete(p: P, id: string): Promise<void> {
    const db = webhooksDb(this.deps.db)
    const res = await db.deleteFrom('webhooks').where('project', '=', p.project).where('id', '=', id).executeTakeFirst()
    if (Number(res.numDeletedRows) > 0) await db.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute()
  }

  /** The delivery log of a subscription, newest first. */
  async deliveries(p: P, input: OpInput<'listWebhookDeliveries'> & { limit: number }): Promise<Page<WebhookDelivery>> {
    const db = webhooksDb(this.deps.db)
    const hook = await db.selectFrom('webhooks').select('id').where('project', '=', p.project).where('id', '=', input.id).executeTakeFirst()
    if (!hook) throw new AppError('not_found', `webhook ${input.id} not found; list them with GET /v1/webhooks`)
    const before = decodeCursor(input.nextToken)
    let q = db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', input.id)
    if (input.status) q = q.where('status', '=', input.status)
    if (before !== undefined) q = q.where('id', '<', before)
    const rows = await q
      .orderBy('id', 'desc')
      .limit(input.limit + 1)
      .execute()
    return pageOf(rows.map(deliveryView), input.limit)
  }

  /** Calls `fn` with every event published (in process; the GitHub adapter listens here). */
  onEvent(fn: (e: PublishedEvent) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /** Whether anything would receive `event` of `project` (spares building a payload nobody gets). */
  async wants(project: string, event: WebhookEvent): Promise<boolean> {
    if (this.#listeners.size > 0) return true
    return (await this.#subscribers(project, event)).length > 0
  }

  /** Queues `event` for every subscription of the project that takes it (durably: in the store), then sends at once. */
  async publish(e: PublishedEvent): Promise<number> {
    for (const l of this.#listeners) {
      try {
        l(e)
      } catch (err) {
        this.deps.log.error({ err, event: e.event }, 'webhooks: a listener failed')
      }
    }
    const hooks = await this.#subscribers(e.project, e.event)
    if (hooks.length === 0) return 0
    const now = this.deps.clock.now()
    const rows: DeliveryRow[] = hooks.map((h) => {
      const id = deliveryId(now)
      return {
        id,
        webhook_id: h.id,
        project: e.project,
        event: e.event,
        payload: JSON.stringify({ id, event: e.event, project: e.project, createdAt: iso(now), data: e.data }),
        status: 'pending',
        attempts: 0,
        next_at: now,
        status_code: null,
        error: null,
        log: '[]',
        created_at: iso(now),
      }
    })
    await webhooksDb(this.deps.db).insertInto('webhook_deliveries').values(rows).execute()
    this.kick()
    return rows.length
  }

  /** Looks for due deliveries every `pollMs` (pending ones left by a previous run included). */
  start(): void {
    if (this.#timer || this.#closed) return
    this.#timer = setInterval(() => this.kick(), this.deps.cfg.pollMs)
    this.#timer.unref()
    this.kick()
  }

  /** Starts a pass over due deliveries now (or right after the one running). */
  kick(): void {
    if (this.#closed) return
    if (this.#draining) {
      this.#again = true
      return
    }
    this.#draining = this.drain()
      .catch((err: unknown) => this.deps.log.error({ err }, 'webhooks: a delivery pass failed'))
      .finally(() => {
        this.#draining = undefined
        if (this.#again) {
          this.#again = false
          this.kick()
        }
      })
  }

  /** Waits for the pass under way (tests, close). */
  async settle(): Promise<void> {
    while (this.#draining) await this.#draining
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    await this.settle()
  }

  /** One pass: every due pending delivery, one attempt each, concurrently. */
  async drain(): Promise<void> {
    const db = webhooksDb(this.deps.db)
    const now = this.deps.clock.now()
    const due = await db.selectFrom('webhook_deliveries').selectAll().where('status', '=', 'pending').where('next_at', '<=', now).orderBy('next_at').limit(batch).execute()
    await Promise.all(due.filter((d) => !this.#inFlight.has(d.id)).map((d) => this.#attempt(d)))
  }

  async #subscribers(project: string, event: WebhookEvent): Promise<WebhookRow[]> {
    const rows = await webhooksDb(this.deps.db).selectFrom('webhooks').selectAll().where('project', '=', project).execute()
    return rows.filter((r) => (JSON.parse(r.events) as string[]).includes(event))
  }

  async #attempt(d: DeliveryRow): Promise<void> {
    const db = webhooksDb(this.deps.db)
    const cfg = this.deps.cfg
    const claimedAt = this.deps.clock.now()
    // A lease: another replica (or this one after a crash mid-attempt) takes it again only once it lapsed.
    const claim = await db
      .updateTable('webhook_deliveries')
      .set({ next_at: claimedAt + cfg.timeoutMs * 2 })
      .where('id', '=', d.id)
      .where('status', '=', 'pending')
      .where('next_at', '=', Number(d.next_at))
      .executeTakeFirst()
    if (Number(claim.numUpdatedRows) === 0) return
    this.#inFlight.add(d.id)
    try {
      const hook = await db.selectFrom('webhooks').selectAll().where('id', '=', d.webhook_id).executeTakeFirst()
      if (!hook) {
        await db.deleteFrom('webhook_deliveries').where('id', '=', d.id).execute()
        return
      }
      const attempt = d.attempts + 1
      const result = await this.#send(hook, d)
      const log = [...(JSON.parse(d.log) as Attempt[]), { attempt, at: iso(claimedAt), ...result }].slice(-50)
      const ok = result.statusCode !== undefined && result.statusCode >= 200 && result.statusCode < 300
      const status: DeliveryRow['status'] = ok ? 'delivered' : attempt >= cfg.maxAttempts ? 'failed' : 'pending'
      const nextAt = status === 'pending' ? this.deps.clock.now() + backoffDelay(attempt, { baseMs: cfg.backoffBaseMs, maxMs: cfg.backoffMaxMs }, this.deps.random) : null
      await db
        .updateTable('webhook_deliveries')
        .set({ status, attempts: attempt, next_at: nextAt, status_code: result.statusCode ?? null, error: result.error ?? null, log: JSON.stringify(log) })
        .where('id', '=', d.id)
        .execute()
      if (status === 'failed') this.deps.log.warn({ delivery: d.id, webhook: hook.id, attempts: attempt }, 'webhooks: a delivery failed for good')
      if (status === 'pending' && nextAt !== null) this.#wakeAt(nextAt)
    } finally {
      this.#inFlight.delete(d.id)
    }
  }

  /** A retry due before the next poll gets its own timer (short backoffs are not stretched to pollMs). */
  #wakeAt(at: number): void {
    const wait = at - this.deps.clock.now()
    if (!this.#timer || wait >= this.deps.cfg.pollMs) return // not started (tests drive drain()), or the poll comes first
    setTimeout(() => this.kick(), Math.max(0, wait)).unref()
  }

  async #send(hook: WebhookRow, d: DeliveryRow): Promise<Omit<Attempt, 'attempt' | 'at'>> {
    const started = performance.now()
    const timestamp = Math.floor(this.deps.clock.now() / 1000)
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'tidepool-webhooks',
      [eventHeader]: d.event,
      [deliveryHeader]: d.id,
      [timestampHeader]: String(timestamp),
      [signatureHeader]: signDelivery(hook.secret, timestamp, d.payload),
    }
    const fetchImpl: FetchLike = this.deps.fetch ?? ((url, init) => fetch(url, init))
    const durationMs = () => Math.round((performance.now() - started) * 10) / 10
    try {
      // Redirects are not followed: a receiver could point one at an address the allow-list refuses.
      const res = await fetchImpl(hook.url, { method: 'POST', headers, body: d.payload, redirect: 'manual', signal: AbortSignal.timeout(this.deps.cfg.timeoutMs) })
      const ok = res.status >= 200 && res.status < 300
      return { statusCode: res.status, durationMs: durationMs(), ...(ok ? {} : { error: `the receiver answered HTTP ${res.status}` }) }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } }
      const why = e.name === 'TimeoutError' ? `no answer within ${this.deps.cfg.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message)
      return { error: String(why).slice(0, maxErrorText), durationMs: durationMs() }
    }
  }
}

/** Sorts by creation time (base-36 ms, fixed width), then at random within one millisecond. */
function deliveryId(now: number): string {
  return `dlv_${now.toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`
}

function view(r: WebhookRow): Webhook {
  return {
    id: r.id,
    project: r.project,
    url: r.url,
    events: JSON.parse(r.events) as Webhook['events'],
    ...(r.description ? { description: r.description } : {}),
    createdAt: r.created_at,
    createdBy: r.created_by,
  }
}

function deliveryView(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    event: r.event as WebhookEvent,
    status: r.status,
    attempts: r.attempts,
    ...(r.status_code !== null ? { statusCode: r.status_code } : {}),
    ...(r.error !== null ? { error: r.error } : {}),
    ...(r.status === 'pending' && r.next_at !== null ? { nextAttemptAt: iso(Number(r.next_at)) } : {}),
    createdAt: r.created_at,
    log: JSON.parse(r.log) as Attempt[],
  }
}
