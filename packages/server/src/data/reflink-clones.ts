/**
 * @module data/reflink-clones — the fast path: a clone is its own PostgreSQL server on a reflink copy of the
 * mirror's cleanly stopped data dir. Creation and reset cost a metadata copy plus a server start, whatever
 * the database size. A spare copy of the reset target is kept ready, so a reset is a stop, a rename and a start.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createCloneRoleSql, scramVerifier, withAdmin } from './pg-admin.js'
import { retry } from '../core/retry.js'
import { OWNER_ROLE, PortInUseError, START_ATTEMPTS, serverPid, startServer, stopServer } from './pg-server.js'
import type { CloneDriver, ClonePlace, CloneRef, CloneSpec, DriverDeps, ResetTarget } from './clone-driver.js'
import { paths } from './layout.js'
import { loggedAs } from './logged.js'
import type { PgBinaries } from './pg-binaries.js'
import { canBind } from './ports.js'

/** A copy of a reset target, made after a pause (so it does not compete with the caller's first connection). */
class Spare {
  started = false
  readonly ready: Promise<boolean>
  #cancel: (() => void) | undefined

  constructor(
    /** 'start' or a snapshot id. */
    readonly target: string,
    delayMs: number,
    copy: () => Promise<void>,
  ) {
    this.ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#cancel = undefined
        this.started = true
        copy().then(
          () => resolve(true),
          () => resolve(false),
        )
      }, delayMs)
      this.#cancel = () => {
        clearTimeout(timer)
        resolve(false)
      }
    })
  }

  /** Stops a copy that has not begun; one under way finishes (await `ready`). */
  cancel(): void {
    this.#cancel?.()
    this.#cancel = undefined
  }
}

/** Pause before background copies and deletions start. */
const BACKGROUND_DELAY_MS = 150

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

  /**
   * Makes a clone: reflink copy of the base, server started directly, its role created. With `keepStart`
   * (warm clones, made ahead of demand) the fresh state — role included — is also kept in start/, so a
   * reset to start later needs no role creation (one connection less on the critical path).
   */
  async create(spec: CloneSpec, opts: { keepStart?: boolean } = {}): Promise<ClonePlace> {
    const dir = this.#abs(paths.clone(spec.id))
    const dataDir = this.#abs(paths.cloneData(spec.id))
    const socketDir = join(this.#d.socketRoot, spec.id)
    let port: number | undefined
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 })
      const [verifier] = await Promise.all([scramVerifier(spec.password), this.#d.pool.clone(this.#abs(`${spec.baseDir}/pgdata`), dataDir)])
      port = await this.#start(spec.id, spec.bins, dataDir, socketDir)
      await withAdmin({ socketDir, port }, spec.mirrorDatabase, (c) => c.query(createCloneRoleSql(spec.user, verifier, OWNER_ROLE)))
      if (opts.keepStart) {
        await stopServer(dataDir, 'fast')
        await this.#d.pool.clone(dataDir, this.#abs(paths.cloneStart(spec.id)))
        port = await this.#start(spec.id, spec.bins, dataDir, socketDir, port)
        // The first connection after a start rebuilds the relation cache; let it not be the client's.
        await withAdmin({ socketDir, port }, spec.mirrorDatabase, (c) => c.query('SELECT 1'))
      }
      this.#prepareSpare(spec.id, 'start', opts.keepStart ? paths.cloneStart(spec.id) : `${spec.baseDir}/pgdata`)
      return { port, socketDir, database: spec.mirrorDatabase, dataDir: paths.clone(spec.id), serverId: undefined }
    } catch (err) {
      await stopServer(dataDir, 'immediate').catch(loggedAs(this.#d.log, 'stopping the half-made clone server', { clone: spec.id }))
      await this.#d.pool.remove(dir).catch(loggedAs(this.#d.log, 'removing the half-made clone dir', { clone: spec.id }))
      await rm(socketDir, { recursive: true, force: true }).catch(loggedAs(this.#d.log, 'removing the half-made clone socket dir', { clone: spec.id }))
      if (port !== undefined) this.#d.ports.release(port)
      throw err
    }
  }

  /** Starts the clone's server, moving to another port when its port was taken meanwhile. */
  async #start(id: string, bins: PgBinaries, dataDir: string, socketDir: string, port?: number): Promise<number> {
    let p = 0
    return retry(
      async () => {
        p = port ?? (await this.#d.ports.take())
        await startServer({ bins, dataDir, port: p, socketDir, name: `tidepool-${id}`, runAs: this.#d.runAs, logFile: `${dataDir}/../server.log` })
        return p
      },
      {
        attempts: START_ATTEMPTS,
        retryable: (err) => err instanceof PortInUseError,
        onRetry: () => {
          this.#d.ports.release(p)
          port = undefined
        },
      },
    )
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
    // "start" is the clone's own start/ copy (role included) when it has one, else the mirror's base (role to add).
    const ownStart = to.kind === 'start' && (await exists(this.#abs(paths.cloneStart(c.id))))
    const source = to.kind === 'start' ? (ownStart ? paths.cloneStart(c.id) : `${c.baseDir}/pgdata`) : to.location
    const verifier = to.kind === 'start' && !ownStart ? scramVerifier(c.password) : undefined
    verifier?.catch(() => undefined) // awaited below, where its failure propagates; this only keeps an early rejection from counting as unhandled
    // The old state is thrown away: no checkpoint needed.
    await stopServer(dataDir, 'immediate')
    const trash = this.#abs(paths.trash(`${c.id}-${randomBytes(4).toString('hex')}`))
    await mkdir(this.#abs('trash'), { recursive: true })
    await rename(dataDir, trash)
    const spare = this.#spares.get(c.id)
    this.#spares.delete(c.id)
    // A spare of this target that is made (or being made) is used; one not begun yet is not waited for.
    if (spare && (spare.target !== target || !spare.started)) spare.cancel()
    if (spare && (await spare.ready) && spare.target === target) await rename(this.#abs(paths.cloneSpare(c.id)), dataDir)
    else {
      if (spare) await this.#d.pool.remove(this.#abs(paths.cloneSpare(c.id)))
      await this.#d.pool.clone(this.#abs(source), dataDir)
    }
    const port = await this.#start(c.id, c.bins, dataDir, c.socketDir, c.port)
    this.#later(() => this.#d.pool.remove(trash))
    if (verifier) await withAdmin({ socketDir: c.socketDir, port }, c.mirrorDatabase, async (cl) => cl.query(createCloneRoleSql(c.user, await verifier, OWNER_ROLE)))
    this.#prepareSpare(c.id, target, source)
    return port
  }

  /** Copies the reset target into spare/ in the background (reflink: metadata only). */
  #prepareSpare(id: string, target: string, sourceRel: string): void {
    if (!this.#d.spares) return
    const spare = new Spare(target, BACKGROUND_DELAY_MS, () => this.#d.pool.clone(this.#abs(sourceRel), this.#abs(paths.cloneSpare(id))))
    this.#spares.set(id, spare)
    this.#bg(spare.ready)
  }

  async destroy(c: CloneRef): Promise<void> {
    const spare = this.#spares.get(c.id)
    this.#spares.delete(c.id)
    spare?.cancel()
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
    const port = await this.#start(c.id, c.bins, dataDir, c.socketDir, keep ? c.port : undefined)
    // A spare left by the previous run may be of any target: make a fresh one for "start".
    await this.#d.pool.remove(this.#abs(paths.cloneSpare(c.id)))
    const ownStart = await exists(this.#abs(paths.cloneStart(c.id)))
    this.#prepareSpare(c.id, 'start', ownStart ? paths.cloneStart(c.id) : `${c.baseDir}/pgdata`)
    return port
  }

  async stop(c: CloneRef): Promise<void> {
    await stopServer(this.#abs(paths.cloneData(c.id)), 'fast')
  }

  /** Waits for background copies and deletions (tests and shutdown). */
  async settle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background])
  }

  /**
   * Background work that must not compete with the caller's first connection (2 cores are easily
   * saturated by a tree copy or delete): starts after a short pause, tracked like other background work.
   */
  #later(fn: () => Promise<unknown>): void {
    this.#bg(new Promise((r) => setTimeout(r, BACKGROUND_DELAY_MS)).then(fn))
  }

  #bg(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.#d.log.debug({ err }, 'background data task failed'))
    this.#background.add(tracked)
    void tracked.finally(() => this.#background.delete(tracked))
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  )
}
