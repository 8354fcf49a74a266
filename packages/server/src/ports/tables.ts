/** @module ports/tables — the ports area's table (migration 0900-ports). */
import type { Db } from '../store/opened-store.js'

/** One port a sandbox exposes without a token; deleted when exposure is turned off or the sandbox ends. */
export interface PublicPortRow {
  sandbox_id: string
  port: number
  project: string
  created_by: string
  created_at: string
}

export type PortTables = { public_ports: PublicPortRow }

export function portsDb(db: Db) {
  return db.withTables<PortTables>()
}
