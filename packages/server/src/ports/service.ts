/** @module ports/service — port exposure: opening a stream to a port inside a sandbox, and public ports. */
import type { Duplex } from 'node:stream'
import type { PortExposure, Principal } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import type { Runtime, RuntimeRef } from '../runtime/runtime.js'
import type { Db } from '../store/opened-store.js'
import { portsDb } from './tables.js'

/** The token id of the principal the HTTP shell makes for a token-less request to a public port. */
export const PUBLIC_PORT_TOKEN_ID = 'public-port'

/** What the ports area needs of the sandboxes area (main.ts hands in SandboxService). */
export interface PortSandboxes {
  /** The running sandbox (a paused one with autoResume is resumed); not_found for another project's, conflict when not running. */
  live(p: Pick<Principal, 'project' | 'tokenId'>, id: string): Promise<{ ref: RuntimeRef }>
}

export interface PortServiceDeps {
  db: Db
  runtime: Runtime
  sandboxes: PortSandboxes
  clock: Clock
}

export class PortService {
  constructor(private readonly deps: PortServiceDeps) {}

  /**
   * A stream to `port` inside sandbox `id`, for principal `p` (project-scoped like every sandbox call).
   * The public principal reaches only a port marked public. bad_gateway when nothing listens there.
   */
  async connect(p: Principal, id: string, port: number): Promise<Duplex> {
    if (p.tokenId === PUBLIC_PORT_TOKEN_ID && (await this.publicProject(id, port)) !== p.project) {
      throw new AppError('unauthenticated', `port ${port} of sandbox ${id} is not public: send Authorization: Bearer <token> (or ?access_token= once in a browser)`)
    }
    const sbx = await this.deps.sandboxes.live(p, id)
    return this.deps.runtime.connectPort(sbx.ref, port)
  }

  /** Turns token-less access on the host-name form on or off (idempotent); the sandbox must be running. */
  async setPublic(p: Principal, id: string, port: number, enabled: boolean): Promise<PortExposure> {
    await this.deps.sandboxes.live(p, id)
    const db = portsDb(this.deps.db)
    if (enabled) {
      const row = { sandbox_id: id, port, project: p.project, created_by: p.tokenId, created_at: new Date(this.deps.clock.now()).toISOString() }
      await db
        .insertInto('public_ports')
        .values(row)
        .onConflict((oc) => oc.columns(['sandbox_id', 'port']).doNothing())
        .execute()
    } else {
      await db.deleteFrom('public_ports').where('sandbox_id', '=', id).where('port', '=', port).where('project', '=', p.project).execute()
    }
    return { sandboxId: id, port, public: enabled }
  }

  /** The project of a public port, or undefined when that port is not public. */
  async publicProject(id: string, port: number): Promise<string | undefined> {
    const row = await portsDb(this.deps.db).selectFrom('public_ports').select('project').where('sandbox_id', '=', id).where('port', '=', port).executeTakeFirst()
    return row?.project
  }

  /** A sandbox ended: its ports are no longer public (ids are never reused, this keeps the table small). */
  async forget(id: string): Promise<void> {
    await portsDb(this.deps.db).deleteFrom('public_ports').where('sandbox_id', '=', id).execute()
  }
}
