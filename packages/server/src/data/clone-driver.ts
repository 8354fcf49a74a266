/** @module data/clone-driver — the seam between the clone service and how a clone is made (reflink server | template database). */
import type { Logger } from '../core/log.js'
import type { StoragePool } from '../storage/storage-pool.js'
import type { PgBinaries } from './pg-binaries.js'
import type { RunAs, ServerSettings } from './pg-server.js'
import type { PortAllocator } from './ports.js'
import type { DataCloneRow, DataDb } from './tables.js'

/** What a driver needs to make a clone. */
export interface CloneSpec {
  id: string
  user: string
  password: string
  /** The mirror's database (as it is in the base). */
  mirrorDatabase: string
  mirrorId: string
  mirrorVersion: number
  /** Pool-relative base dir (holds pgdata/). */
  baseDir: string
  bins: PgBinaries
}

/** Where a made clone is. */
export interface ClonePlace {
  port: number
  socketDir: string
  database: string
  /** Pool-relative clone dir (reflink) or undefined. */
  dataDir: string | undefined
  serverId: string | undefined
}

/** The subset of a clone row drivers work on. */
export interface CloneRef {
  id: string
  user: string
  password: string
  database: string
  port: number
  socketDir: string
  dataDir: string | null
  serverId: string | null
  baseDir: string
  mirrorDatabase: string
  bins: PgBinaries
}

export type ResetTarget = { kind: 'start' } | { kind: 'snapshot'; id: string; location: string }

export interface CloneDriver {
  readonly strategy: 'reflink' | 'template'
  /** Makes the clone and returns once it accepts connections with its own credentials. Leaves nothing on failure. */
  create(spec: CloneSpec, opts?: { keepStart?: boolean }): Promise<ClonePlace>
  /** Freezes the clone's current state; returns the snapshot's location (and the port, which a restart may change). */
  snapshot(c: CloneRef, snapshotId: string): Promise<{ location: string; port: number }>
  /** Puts the clone back to a state; same socket, credentials and (unless taken meanwhile) port, which it returns once it accepts connections. */
  reset(c: CloneRef, to: ResetTarget): Promise<number>
  /** Stops and removes everything of the clone (snapshots included). Idempotent. */
  destroy(c: CloneRef, snapshotLocations: string[]): Promise<void>
  /** Waits for background work (spare copies, deletions). */
  settle(): Promise<void>
  /** Is it serving now? */
  running(c: CloneRef): Promise<boolean>
  /** Serves it again after a restart (port may change when the old one is taken). Returns the port. */
  restart(c: CloneRef): Promise<number>
  /** Stops serving (shutdown); restart() brings it back. */
  stop(c: CloneRef): Promise<void>
}

export interface DriverDeps {
  pool: StoragePool
  db: DataDb
  runAs: RunAs | undefined
  settings: ServerSettings
  ports: PortAllocator
  socketRoot: string
  spares: boolean
  log: Logger
  now: () => string
}

/** A clone row as the driver needs it; `mirrorDatabase` is the row's own database (the template strategy's differs: see clones.ts). */
export function cloneRefOf(row: DataCloneRow): Omit<CloneRef, 'bins'> {
  return {
    id: row.id,
    user: row.user_name,
    password: row.password,
    database: row.database,
    port: row.port,
    socketDir: row.socket_dir,
    dataDir: row.data_dir,
    serverId: row.server_id,
    baseDir: row.base_dir,
    mirrorDatabase: row.database,
  }
}
