/** Helpers for the data integration tests: a real source PostgreSQL started by the test, and a data service over :memory:. */
import { expect } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Principal } from '@tidepool/sdk'
import pg from 'pg'
import { AuditLog } from '../../../src/audit/audit-log.js'
import { loadConfig } from '../../../src/config.js'
import { silentLogger } from '../../../src/core/log.js'
import { findPgBinaries, type PgBinaries } from '../../../src/data/pg-binaries.js'
import { withAdmin } from '../../../src/data/pg-admin.js'
import { initDataDir, resolveRunAs, startServer, stopServer } from '../../../src/data/pg-server.js'
import { canBind } from '../../../src/data/ports.js'
import { createDataService, type DataService, type DataServiceOptions } from '../../../src/data/service.js'
import type { AreaDeps } from '../../../src/kit/area-deps.js'
import { EventLog } from '../../../src/kit/events.js'
import { openStore, type OpenedStore } from '../../../src/store/db.js'

export const dataSkip: string | undefined = (() => {
  if (process.getuid?.() !== 0) return 'needs root (runs PostgreSQL as the postgres user, mounts an XFS image)'
  if (!existsSync('/usr/lib/postgresql')) return 'PostgreSQL binaries missing (apt-get install -y postgresql-15)'
  return undefined
})()

/** A temp dir every user can traverse (the PostgreSQL user must reach data dirs inside). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join('/tmp', prefix))
  chmodSync(d, 0o755)
  return d
}

export async function freePort(from = 25_000): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    const p = from + Math.floor(Math.random() * 10_000)
    if (await canBind(p)) return p
  }
  throw new Error('no free port')
}

export interface TestPg {
  dir: string
  port: number
  socketDir: string
  bins: PgBinaries
  /** URL for a role over TCP 127.0.0.1. */
  url(user: string, password: string, database: string): string
  /** Runs SQL as the superuser (Unix socket, peer). */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(database: string, text: string, params?: unknown[]): Promise<T[]>
  stop(): Promise<void>
}

/** A store database for tidepool itself on a test PostgreSQL: role and database `tidepool_<name>`; returns its URL. */
export async function storeDatabase(pg: TestPg, name: string): Promise<string> {
  await pg.sql('postgres', `create role tidepool_${name} login password '${name}-pw'`)
  await pg.sql('postgres', `create database tidepool_${name} owner tidepool_${name}`)
  return pg.url(`tidepool_${name}`, `${name}-pw`, `tidepool_${name}`)
}

/** Starts a source PostgreSQL of its own (temp dir, free port), like a production database would be. */
export async function startTestPg(name: string): Promise<TestPg> {
  const dir = tempDir(`tp-src-${name}-`)
  const bins = (await findPgBinaries())[0]!
  const runAs = await resolveRunAs('postgres')
  const dataDir = join(dir, 'pgdata')
  await initDataDir(bins, dataDir, runAs, { sharedBuffersMb: 32, maxConnections: 50, durable: false })
  const socketDir = join(dir, 'sock')
  const port = await freePort()
  await startServer({ bins, dataDir, port, socketDir, name: `src-${name}`, runAs, logFile: join(dir, 'server.log') })
  return {
    dir,
    port,
    socketDir,
    bins,
    url: (user, password, database) => `postgresql://${user}:${password}@127.0.0.1:${port}/${database}`,
    sql: async <T extends pg.QueryResultRow>(database: string, text: string, params?: unknown[]) =>
      withAdmin({ socketDir, port }, database, async (c) => (await c.query<T>(text, params as never[])).rows),
    stop: async () => {
      await stopServer(dataDir, 'immediate')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface TestData {
  svc: DataService
  store: OpenedStore
  deps: AreaDeps
  home: string
  dataDir: string
  socketRoot: string
  /** Where the pool is reached while the service runs: as root, the mount in the run dir (data/layout). */
  poolRoot: string
  clock: { now(): number; advance(ms: number): void }
  principal: Principal
  close(): Promise<void>
}

/** A data service over :memory: with its pool under a temp dir; `data` overrides config keys. */
export async function testData(data: Record<string, unknown> = {}, opts: DataServiceOptions & { store?: OpenedStore; home?: string } = {}): Promise<TestData> {
  const home = opts.home ?? tempDir('tp-data-')
  const dataDir = join(home, 'data')
  const socketRoot = join(home, 's')
  const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', data: { dir: dataDir, socketDir: socketRoot, ...data } } })
  const store = opts.store ?? (await openStore(':memory:'))
  let t = Date.now()
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) }
  const deps: AreaDeps = { config, store, clock, log: silentLogger, audit: new AuditLog(store.db, clock), events: new EventLog(store.db, clock), runtime: undefined as never }
  const svc = createDataService(deps, opts)
  return {
    svc,
    store,
    deps,
    home,
    dataDir,
    socketRoot,
    poolRoot: join(socketRoot, 'pool'),
    clock,
    principal: { tokenId: 'tok_test', name: 'test', project: 'proj', scopes: ['data:read', 'data:write'] },
    close: async () => {
      await svc.close()
    },
  }
}

/** Client to a clone over TCP with its own credentials. */
export async function cloneClient(c: { host: string; port: number; user: string; password: string; database: string }): Promise<pg.Client> {
  const client = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: c.database })
  await client.connect()
  return client
}

export async function cloneQuery<T extends pg.QueryResultRow>(c: { host: string; port: number; user: string; password: string; database: string }, text: string): Promise<T[]> {
  const client = await cloneClient(c)
  try {
    return (await client.query<T>(text)).rows
  } finally {
    await client.end()
  }
}

/** What is left on the host that mentions `needle` (mounts, loop devices, processes). */
export function hostLeftovers(needle: string): string[] {
  const found: string[] = []
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) if (line.includes(needle)) found.push(`mount ${line}`)
  const loops = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout
  for (const line of loops.split('\n')) if (line.includes(needle)) found.push(`loop ${line}`)
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout
  for (const line of ps.split('\n')) if (line.includes(needle) && !line.includes('ps -eo')) found.push(`process ${line.trim()}`)
  return found
}

/**
 * Last line of defence after a failed test: stops servers, detaches mounts and loop devices under `home`,
 * removes it. Run after asserting hostLeftovers(), so a leak still fails the test but never stays on the host.
 */
export async function scrubHome(home: string): Promise<void> {
  const { postmastersUnder, stopPid } = await import('../../../src/data/pg-server.js')
  for (const pm of await postmastersUnder(home)) await stopPid(pm.pid, 'immediate')
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const mp = line.split(' ')[1]
    if (mp?.startsWith(`${home}/`)) spawnSync('umount', ['-l', mp])
  }
  for (const line of spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (line.includes(home)) spawnSync('losetup', ['-d', line.split(':')[0]!])
  }
  rmSync(home, { recursive: true, force: true })
}

/** pg_dump of a database on the test server or a clone, as text. */
export function pgDump(bins: PgBinaries, env: Record<string, string>, args: string[]): string {
  return execFileSync(join(bins.dir, 'pg_dump'), args, { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', maxBuffer: 1 << 30 })
}

/** Schema dump text without the parts that differ by nature (comments, SET lines, owners, grants, restrict keys). */
export function normaliseSchema(dump: string): string {
  return dump
    .split('\n')
    .filter((l) => !/^--|^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict |^ALTER .* OWNER TO |^(GRANT|REVOKE) |^\s*$/.test(l))
    .join('\n')
}

/**
 * The data tests' teardown: close the service, stop the source, check nothing is left on the host, and
 * scrub the temp home whatever happened.
 */
export async function teardownData(t: TestData | undefined, src: { stop(): Promise<void> } | undefined): Promise<void> {
  try {
    await t?.close()
    await src?.stop()
    if (t) expect(hostLeftovers(t.home)).toEqual([])
  } finally {
    if (t) await scrubHome(t.home)
  }
}
