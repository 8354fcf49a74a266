/**
 * @module data/template-clones — the fallback: clones are databases on one shared server per mirror version,
 * made with CREATE DATABASE … TEMPLATE (a full copy: O(size)). On PostgreSQL 18+ with a reflink pool the copy
 * is STRATEGY FILE_COPY with file_copy_method = clone, which is thin again. pg_hba `sameuser` keeps each
 * clone role to its own database; the socket dir is shared by the server's clones.
 */
import { rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { newId } from '../core/ids.js'
import type { CloneDriver, ClonePlace, CloneRef, CloneSpec, DriverDeps, ResetTarget } from './clone-driver.js'
import { paths } from './layout.js'
import { loggedAs } from './logged.js'
import { canBind } from './ports.js'
import { createCloneRoleSql, quoteIdent, scramVerifier, withAdmin } from './pg-admin.js'
import type { PgBinaries } from './pg-binaries.js'
import { ADMIN_ROLE, hbaConf, OWNER_ROLE, PortInUseError, START_ATTEMPTS, serverPid, startServer, stopServer } from './pg-server.js'
import type { DataServerRow } from './tables.js'
import { KeyedMutex } from '../core/mutex.js'
import { retry } from '../core/retry.js'

export class TemplateClones implements CloneDriver {
  readonly strategy = 'template' as const
  readonly #d: DriverDeps
  readonly #lock = new KeyedMutex()

  constructor(deps: DriverDeps) {
    this.#d = deps
  }

  #abs(rel: string): string {
    return join(this.#d.pool.root, rel)
  }

  /** The running shared server of a mirror version, made (a copy of the base) and started on first use. */
  async server(mirrorId: string, version: number, baseDir: string, bins: PgBinaries): Promise<DataServerRow> {
    return this.#lock.run(`${mirrorId}/${version}`, async () => {
      let row = await this.#d.db.selectFrom('data_servers').selectAll().where('mirror_id', '=', mirrorId).where('mirror_version', '=', version).executeTakeFirst()
      if (
        row &&
        !(await stat(this.#abs(`${row.data_dir}/PG_VERSION`)).then(
          () => true,
          () => false,
        ))
      ) {
        // Half made when tidepool stopped: start over.
        await this.#d.pool.remove(this.#abs(paths.server(row.id))).catch(loggedAs(this.#d.log, 'removing a half-made shared server dir', { server: row.id }))
        await this.#d.db.deleteFrom('data_servers').where('id', '=', row.id).execute()
        row = undefined
      }
      if (!row) {
        const id = newId('dsrv', 12)
        const dir = this.#abs(paths.server(id))
        const dataDir = `${dir}/pgdata`
        // The record first: the orphan sweep never takes a server being made for a stray.
        row = {
          id,
          mirror_id: mirrorId,
          mirror_version: version,
          data_dir: `${paths.server(id)}/pgdata`,
          socket_dir: join(this.#d.socketRoot, id),
          port: 0,
          pg_major: bins.major,
          created_at: this.#d.now(),
        }
        await this.#d.db.insertInto('data_servers').values(row).execute()
        try {
          await this.#d.pool.clone(this.#abs(baseDir), dir)
          await writeFile(`${dataDir}/pg_hba.conf`, hbaConf(true))
          row.port = await this.#start(row, bins)
          await this.#d.db.updateTable('data_servers').set({ port: row.port }).where('id', '=', id).execute()
        } catch (err) {
          await stopServer(dataDir, 'immediate').catch(loggedAs(this.#d.log, 'stopping the half-made shared server', { server: id }))
          await this.#d.pool.remove(dir).catch(loggedAs(this.#d.log, 'removing the half-made shared server dir', { server: id }))
          await rm(row.socket_dir, { recursive: true, force: true }).catch(loggedAs(this.#d.log, 'removing the half-made shared server socket dir', { server: id }))
          await this.#d.db.deleteFrom('data_servers').where('id', '=', id).execute()
          throw err
        }
      } else if (!(await serverPid(this.#abs(row.data_dir)))) {
        const port = await this.#start(row, bins)
        if (port !== row.port) await this.#d.db.updateTable('data_servers').set({ port }).where('id', '=', row.id).execute()
        row.port = port
      } else this.#d.ports.hold(row.port)
      return row
    })
  }

  async #start(row: DataServerRow, bins: PgBinaries): Promise<number> {
    let keep = row.port > 0 && (await canBind(row.port))
    return retry(
      async () => {
        const port = keep ? row.port : await this.#d.ports.take()
        if (keep) this.#d.ports.hold(port)
        try {
          await startServer({
            bins,
            dataDir: this.#abs(row.data_dir),
            port,
            socketDir: row.socket_dir,
            name: `tidepool-${row.id}`,
            runAs: this.#d.runAs,
            logFile: this.#abs(`${paths.server(row.id)}/server.log`),
          })
          return port
        } catch (err) {
          this.#d.ports.release(port)
          throw err
        }
      },
      { attempts: START_ATTEMPTS, retryable: (err) => err instanceof PortInUseError, onRetry: () => void (keep = false) },
    )
  }

  async create(spec: CloneSpec): Promise<ClonePlace> {
    const srv = await this.server(spec.mirrorId, spec.mirrorVersion, spec.baseDir, spec.bins)
    const addr = { socketDir: srv.socket_dir, port: srv.port }
    const verifier = await scramVerifier(spec.password)
    const db = spec.user // pg_hba sameuser: the role reaches only the database of its name
    try {
      // The admin session sits in the mirror's database: a template may be copied by the one session on it.
      await withAdmin(addr, spec.mirrorDatabase, async (c) => {
        await c.query(createCloneRoleSql(spec.user, verifier, OWNER_ROLE))
        await this.#copy(c, spec.mirrorDatabase, db, spec.bins)
      })
    } catch (err) {
      await this.#drop(addr, spec.mirrorDatabase, db, [], spec.user).catch(loggedAs(this.#d.log, 'dropping the half-made clone database', { clone: spec.id }))
      throw err
    }
    return { port: srv.port, socketDir: srv.socket_dir, database: db, dataDir: undefined, serverId: srv.id }
  }

  async #copy(c: import('pg').Client, from: string, to: string, bins: PgBinaries): Promise<void> {
    // PG 18: a clone of the files on a reflink filesystem (FILE_COPY checkpoints, so copies on one server queue).
    const thin = bins.major >= 18 && this.#d.pool.kind === 'reflink'
    if (thin) await c.query(`SET file_copy_method = clone`)
    await c.query(`CREATE DATABASE ${quoteIdent(to)} TEMPLATE ${quoteIdent(from)} OWNER ${quoteIdent(to)}${thin ? ' STRATEGY FILE_COPY' : ''}`)
    await c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${quoteIdent(to)} FROM PUBLIC`)
  }

  async snapshot(c: CloneRef, snapshotId: string): Promise<{ location: string; port: number }> {
    const snapDb = `s_${snapshotId}`
    await withAdmin(this.#addr(c), c.mirrorDatabase, async (cl) => {
      // No session may use a template while it is copied: close the door, copy, open it again.
      await cl.query(`ALTER DATABASE ${quoteIdent(c.database)} ALLOW_CONNECTIONS false`)
      try {
        await cl.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [c.database])
        await cl.query(`CREATE DATABASE ${quoteIdent(snapDb)} TEMPLATE ${quoteIdent(c.database)} OWNER ${quoteIdent(ADMIN_ROLE)}`)
        await cl.query(`ALTER DATABASE ${quoteIdent(snapDb)} ALLOW_CONNECTIONS false`)
      } finally {
        await cl.query(`ALTER DATABASE ${quoteIdent(c.database)} ALLOW_CONNECTIONS true`)
      }
    })
    return { location: snapDb, port: c.port }
  }

  async reset(c: CloneRef, to: ResetTarget): Promise<number> {
    await withAdmin(this.#addr(c), c.mirrorDatabase, async (cl) => {
      await cl.query(`DROP DATABASE IF EXISTS ${quoteIdent(c.database)} WITH (FORCE)`)
      await this.#copy(cl, to.kind === 'start' ? c.mirrorDatabase : to.location, c.database, c.bins)
    })
    return c.port
  }

  async destroy(c: CloneRef, snapshotLocations: string[]): Promise<void> {
    // A stopped shared server is started to drop the clone's database and role; a vanished one took them along.
    const port = (await this.running(c))
      ? c.port
      : await this.restart(c).catch(loggedAs(this.#d.log, 'restarting the shared server to drop a clone (its database goes with the server)', { clone: c.id }))
    if (port === undefined) return
    await this.#drop({ socketDir: c.socketDir, port }, c.mirrorDatabase, c.database, snapshotLocations, c.user)
  }

  async #drop(addr: { socketDir: string; port: number }, adminDb: string, database: string, snapshots: string[], user: string): Promise<void> {
    await withAdmin(addr, adminDb, async (cl) => {
      for (const db of [database, ...snapshots]) await cl.query(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`)
      await cl.query(`DROP ROLE IF EXISTS ${quoteIdent(user)}`)
    })
  }

  #addr(c: CloneRef) {
    return { socketDir: c.socketDir, port: c.port }
  }

  async running(c: CloneRef): Promise<boolean> {
    const row = c.serverId ? await this.#d.db.selectFrom('data_servers').selectAll().where('id', '=', c.serverId).executeTakeFirst() : undefined
    return row ? (await serverPid(this.#abs(row.data_dir))) !== undefined : false
  }

  async restart(c: CloneRef): Promise<number> {
    const row = c.serverId ? await this.#d.db.selectFrom('data_servers').selectAll().where('id', '=', c.serverId).executeTakeFirst() : undefined
    if (!row) throw new Error(`shared server ${c.serverId} of clone ${c.id} is gone`)
    return (await this.server(row.mirror_id, row.mirror_version, '', c.bins)).port
  }

  /** Stops every shared server (shutdown). */
  async stop(): Promise<void> {
    const rows = await this.#d.db.selectFrom('data_servers').selectAll().execute()
    for (const r of rows) await stopServer(this.#abs(r.data_dir), 'fast')
  }

  /** Stops and removes a shared server that serves no clone any more. */
  async removeServer(row: DataServerRow): Promise<void> {
    await stopServer(this.#abs(row.data_dir), 'immediate')
    await this.#d.pool.remove(this.#abs(paths.server(row.id)))
    await rm(row.socket_dir, { recursive: true, force: true })
    this.#d.ports.release(row.port)
    await this.#d.db.deleteFrom('data_servers').where('id', '=', row.id).execute()
  }

  async settle(): Promise<void> {}
}
