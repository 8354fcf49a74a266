/**
 * @module data/reflink-clones — the fast path: a clone is its own PostgreSQL server on a reflink copy of the
 * mirror's cleanly stopped data dir. Creation and reset cost a metadata copy plus a server start, whatever
 * the database size. A spare copy of the reset target is kept ready, so a reset is a stop, a rename and a start.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createCloneRoleSql, scramVerifier, withAdmin } from './pg-admin.js'
import { OWNER_ROLE, PortInUseError, serverPid, startServer, stopServer } from './pg-server.js'
import type { CloneDriver, ClonePlace, CloneRef, CloneSpec, DriverDeps, ResetTarget } from './clone-driver.js'
import { paths } from './layout.js'
import type { PgBinaries } from './pg-binaries.js'
import { canBind } from './ports.js'

interface Spare {
  /** 'start' or a snapshot id. */
  target: string
  ready: Promise<boolean>
}

export class ReflinkClones implements CloneDriver {
  readonly strategy = 'reflink' as const
  readonly #d: DriverDeps
  readonly #spares = new Map<string, Spare>()
  readonly #background = new Set<Promise<unknown>>()

  constructor(deps: DriverDeps) {
    this.#d = deps
  }

  #abs(rel: string): string {
    return join(this.#d.pool.root, rel)
  }

  async create(spec: CloneSpec): Promise<ClonePlace> {
    const dir = this.#abs(paths.clone(spec.id))
    const dataDir = this.#abs(paths.cloneData(spec.id))
    const socketDir = join(this.#d.socketRoot, spec.id)
    let port: number | undefined
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 })
      const [verifier] = await Promise.all([scramVerifier(spec.password), this.#d.pool.clone(this.#abs(`${spec.baseDir}/pgdata`), dataDir)])
      port = await this.#start(spec.id, spec.bins, dataDir, socketDir)
      const addr = { socketDir, port }
      await withAdmin(addr, spec.mirrorDatabase, (c) => c.query(createCloneRoleSql(spec.user, verifier, OWNER_ROLE)))
      this.#prepareSpare(spec.id, 'start', `${spec.baseDir}/pgdata`)
      return { port, socketDir, database: spec.mirrorDatabase, dataDir: paths.clone(spec.id), serverId: undefined }
    } catch (err) {
      await stopServer(dataDir, 'immediate').catch(() => undefined)
      await this.#d.pool.remove(dir).catch(() => undefined)
      await rm(socketDir, { recursive: true, force: true }).catch(() => undefined)
      if (port !== undefined) this.#d.ports.release(port)
      throw err
    }
  }

  /** Starts the clone's server, moving to another port when its port was taken meanwhile. */
  async #start(id: string, bins: PgBinaries, dataDir: string, socketDir: string, port?: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const p = port ?? (await this.#d.ports.take())
      try {
        await startServer({ bins, dataDir, port: p, socketDir, name: `tidepool-${id}`, runAs: this.#d.runAs, logFile: `${dataDir}/../server.log` })
        return p
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 5) throw err
        this.#d.ports.release(p)
        port = undefined
      }
    }
  }

  async snapshot(c: CloneRef, snapshotId: string): Promise<{ location: string; port: number }> {
    const dataDir = this.#abs(paths.cloneData(c.id))
    const location = paths.cloneSnapshot(c.id, snapshotId)
    await mkdir(this.#abs(`${paths.clone(c.id)}/snapshots`), { recursive: true, mode: 0o755 })
    // A clean stop: the snapshot starts later without crash recovery.
    await stopServer(dataDir, 'fast')
    let copied: unknown
    await this.#d.pool.clone(dataDir, this.#abs(location)).catch((err: unknown) => (copied = err ?? new Error('copy failed')))
    const port = await this.#start(c.id, c.bins, dataDir, c.socketDir, c.port)
    if (copied) throw copied
    return { location, port }
  }

  async reset(c: CloneRef, to: ResetTarget): Promise<number> {
    const dataDir = this.#abs(paths.cloneData(c.id))
    const target = to.kind === 'start' ? 'start' : to.id
    const source = to.kind === 'start' ? `${c.baseDir}/pgdata` : to.location
    const verifier = to.kind === 'start' ? scramVerifier(c.password) : undefined
    verifier?.catch(() => undefined)
    // The old state is thrown away: no checkpoint needed.
    await stopServer(dataDir, 'immediate')
    const trash = this.#abs(paths.trash(`${c.id}-${randomBytes(4).toString('hex')}`))
    await mkdir(this.#abs('trash'), { recursive: true })
    await rename(dataDir, trash)
    this.#bg(this.#d.pool.remove(trash))
    const spare = this.#spares.get(c.id)
    this.#spares.delete(c.id)
    if (spare?.target === target && (await spare.ready)) await rename(this.#abs(paths.cloneSpare(c.id)), dataDir)
    else {
      if (spare) await spare.ready.then(() => this.#d.pool.remove(this.#abs(paths.cloneSpare(c.id))))
      await this.#d.pool.clone(this.#abs(source), dataDir)
    }
    const port = await this.#start(c.id, c.bins, dataDir, c.socketDir, c.port)
    if (verifier) await withAdmin({ socketDir: c.socketDir, port }, c.mirrorDatabase, async (cl) => cl.query(createCloneRoleSql(c.user, await verifier, OWNER_ROLE)))
    this.#prepareSpare(c.id, target, source)
    return port
  }

  /** Copies the reset target into spare/ in the background (reflink: metadata only). */
  #prepareSpare(id: string, target: string, sourceRel: string): void {
    if (!this.#d.spares) return
    const spareDir = this.#abs(paths.cloneSpare(id))
    const ready = this.#d.pool.clone(this.#abs(sourceRel), spareDir).then(
      () => true,
      (err: unknown) => {
        this.#d.log.debug({ err, clone: id }, 'spare copy failed; the next reset copies instead')
        return false
      },
    )
    this.#spares.set(id, { target, ready })
    this.#bg(ready)
  }

  async destroy(c: CloneRef): Promise<void> {
    const spare = this.#spares.get(c.id)
    this.#spares.delete(c.id)
    await spare?.ready
    await stopServer(this.#abs(paths.cloneData(c.id)), 'immediate')
    await this.#d.pool.remove(this.#abs(paths.clone(c.id)))
    await rm(c.socketDir, { recursive: true, force: true })
    this.#d.ports.release(c.port)
  }

  async running(c: CloneRef): Promise<boolean> {
    return (await serverPid(this.#abs(paths.cloneData(c.id)))) !== undefined
  }

  async restart(c: CloneRef): Promise<number> {
    const dataDir = this.#abs(paths.cloneData(c.id))
    if (await serverPid(dataDir)) {
      this.#d.ports.hold(c.port)
      return c.port
    }
    // Keep the old port when it is free, so clients and bound sandboxes keep working.
    const keep = await canBind(c.port)
    if (keep) this.#d.ports.hold(c.port)
    return this.#start(c.id, c.bins, dataDir, c.socketDir, keep ? c.port : undefined)
  }

  async stop(c: CloneRef): Promise<void> {
    await stopServer(this.#abs(paths.cloneData(c.id)), 'fast')
  }

  /** Waits for background copies and deletions (tests and shutdown). */
  async settle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background])
  }

  #bg(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.#d.log.debug({ err }, 'background data task failed'))
    this.#background.add(tracked)
    void tracked.finally(() => this.#background.delete(tracked))
  }
}
