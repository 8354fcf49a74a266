/** @module bench/pg-source-home — the home, binaries and free port of a bench's source PostgreSQL (data, gate). */
import { chmodSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { findPgBinaries, type PgBinaries } from '../data/pg-binaries.js'
import { resolveRunAs } from '../data/pg-server.js'
import { canBind } from '../data/ports.js'

export interface PgSourceHome {
  home: string
  bins: PgBinaries
  runAs: Awaited<ReturnType<typeof resolveRunAs>>
  srcData: string
  srcSock: string
  port: number
}

/** A 0755 temp home (the postgres user walks into it), the first PostgreSQL found, and a free port from `firstPort` on. */
export async function pgSourceHome(name: string, firstPort: number): Promise<PgSourceHome> {
  const home = mkdtempSync(join('/tmp', `tidepool-bench-${name}-`))
  chmodSync(home, 0o755)
  const bins = (await findPgBinaries())[0]
  if (!bins) throw new Error('no PostgreSQL binaries (apt-get install -y postgresql-15)')
  const runAs = await resolveRunAs('postgres')
  let port = 0
  for (let p = firstPort; p < firstPort + 1000 && !port; p++) if (await canBind(p)) port = p
  return { home, bins, runAs, srcData: join(home, 'source', 'pgdata'), srcSock: join(home, 'ss'), port }
}
