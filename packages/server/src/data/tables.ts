/** @module data/tables — row types of the data area's tables (migration 0200-data). Timestamps are ISO strings, JSON is text. */
import type { Db } from '../store/db.js'

export interface DataSourceRow {
  id: string
  project: string
  name: string
  /** With its password: tidepool needs it to read the source. Never returned or logged as is. */
  url: string
  database: string
  server_version: string
  tables: number
  /** Key of the deterministic maskers of this source's mirrors. */
  salt: string
  created_at: string
}

export interface DataMirrorRow {
  id: string
  project: string
  name: string
  source_id: string
  /** building (first build running) | ready | failed */
  state: string
  database: string
  pg_version: string
  sample: string
  masking: string
  refresh_every_s: number | null
  /** Incremented by every build; the base lives in mirrors/<id>/v<version>. */
  version: number
  /** Pool-relative dir of the current base (holds pgdata/), once built. */
  base_dir: string | null
  report: string | null
  error: string | null
  created_at: string
  refreshed_at: string | null
}

/** A shared server of the template strategy: one per mirror version, clones are databases on it. */
export interface DataServerRow {
  id: string
  mirror_id: string
  mirror_version: number
  /** Pool-relative data dir. */
  data_dir: string
  socket_dir: string
  port: number
  pg_major: number
  created_at: string
}

export interface DataCloneRow {
  id: string
  project: string
  mirror_id: string
  sandbox_id: string | null
  /** reflink | template */
  strategy: string
  /** creating | ready | stopped | destroyed */
  state: string
  server_id: string | null
  /** Pool-relative dir of the clone (holds pgdata/, snapshots/, spare/); null for template clones. */
  data_dir: string | null
  /** Pool-relative base dir the clone started from (reset "start" goes back to it). */
  base_dir: string
  socket_dir: string
  port: number
  pg_major: number
  database: string
  user_name: string
  password: string
  disk_bytes: number
  created_at: string
  expires_at: string
  reset_at: string | null
  destroyed_at: string | null
  reason: string | null
}

export interface DataSnapshotRow {
  id: string
  clone_id: string
  project: string
  /** Pool-relative dir (reflink) or database name (template). */
  location: string
  label: string | null
  created_at: string
}

/** A type, not an interface: kysely's `withTables` takes a record type. */
export type DataTables = {
  data_sources: DataSourceRow
  data_mirrors: DataMirrorRow
  data_servers: DataServerRow
  data_clones: DataCloneRow
  data_snapshots: DataSnapshotRow
}

/** The store's Kysely instance with the data tables typed in (they live here, not in the core schema). */
export type DataDb = ReturnType<typeof dataDb>

export function dataDb(db: Db) {
  return db.withTables<DataTables>()
}
