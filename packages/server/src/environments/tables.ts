/** @module environments/tables — the environments area's tables (migrations 1101-environments, 1250-fork-sandboxes). */
import type { Db } from '../store/opened-store.js'

/** One environment: its baseline services as JSON (`[{ name, upstream, resources? }]`). Names are unique on the server: they are host names. */
export interface EnvironmentRow {
  name: string
  project: string
  services: string
  created_by: string
  created_at: string
}

/** One fork of one service of an environment, selected by `routing_key`; deleted with its environment. */
export interface ForkRow {
  id: string
  environment: string
  project: string
  service: string
  routing_key: string
  upstream: string
  created_by: string
  created_at: string
  expires_at: string | null
  /** A fork in a sandbox (migration 1250): `upstream` is then `sandbox:<id>:<port>`. */
  sandbox_id: string | null
  port: number | null
  protocol: string | null
  /** 1: the fork launched the sandbox and destroys it when it ends. */
  owns_sandbox: number
  clone_id: string | null
  clone_url: string | null
}

export type EnvironmentTables = { environments: EnvironmentRow; environment_forks: ForkRow }

export function environmentsDb(db: Db) {
  return db.withTables<EnvironmentTables>()
}
