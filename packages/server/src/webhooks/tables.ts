/** @module webhooks/tables — the webhooks area's tables (migration 1240-webhooks). */
import type { Db } from '../store/opened-store.js'

/** A subscription: its events as a JSON array; `secret` signs every delivery (shown to the creator once). */
export interface WebhookRow {
  id: string
  project: string
  url: string
  events: string
  secret: string
  description: string | null
  created_by: string
  created_at: string
}

/**
 * One event for one subscription. `payload` is the exact body sent on every attempt (so a retry carries
 * the same bytes and delivery id); `log` is a JSON array of the attempts; `next_at` (ms) is when a pending
 * delivery is due. Pending rows are the queue: a restart picks them up where they stood.
 */
export interface DeliveryRow {
  id: string
  webhook_id: string
  project: string
  event: string
  payload: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  next_at: number | string | null
  status_code: number | null
  error: string | null
  log: string
  created_at: string
}

/** The GitHub side of a run: its repository, head commit, pull request and the check run tidepool keeps on it. */
export interface GithubRunRow {
  project: string
  run_id: string
  repo: string
  head_sha: string
  pr: number | null
  check_run_id: number | string | null
  created_at: string
}

export type WebhookTables = { webhooks: WebhookRow; webhook_deliveries: DeliveryRow; github_runs: GithubRunRow }

export function webhooksDb(db: Db) {
  return db.withTables<WebhookTables>()
}
