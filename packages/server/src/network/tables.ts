/** @module network/tables — the network area's view of the store (tables of migration 0700-network). */
import type { Generated } from 'kysely'
import type { Db } from '../store/db.js'

export interface NetworkPolicyRow {
  sandbox_id: string
  project: string
  template: string | null
  template_policy: string | null
  allowed: string
  denied: string
  source_ip: string | null
  updated_at: string
}

export interface NetworkEventRow {
  seq: Generated<number>
  at: string
  project: string
  sandbox_id: string
  protocol: string
  host: string
  port: number
  verdict: string
  rule: string
  bytes_up: number
  bytes_down: number
  stub: string | null
  call: string | null
}

export interface NetworkSecretRow {
  project: string
  name: string
  sealed: string
  created_at: string
  updated_at: string
}

export type NetworkTables = {
  network_policies: NetworkPolicyRow
  network_events: NetworkEventRow
  network_secrets: NetworkSecretRow
}

export type NetworkDb = ReturnType<typeof networkDb>

export function networkDb(db: Db) {
  return db.withTables<NetworkTables>()
}

/** JSON from the store as null-prototype records (a key like __proto__ stays data). */
export function parseStored<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.assign(Object.create(null) as object, v) : v)) as T
}
