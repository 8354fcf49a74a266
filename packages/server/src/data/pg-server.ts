/** @module data/pg-server — one managed PostgreSQL server: initdb, start `postgres` directly, stop, find again after a restart. */
import { spawn } from 'node:child_process'
import { appendFile, chown, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { childEnv } from '../core/child-env.js'
import { AppError } from '../core/errors.js'
import { runCommand } from '../storage/run-command.js'
import type { PgBinaries } from './pg-binaries.js'

/** The OS user managed servers run as (PostgreSQL refuses root); undefined when tidepool itself is not root. */
export interface RunAs {
  user: string
  uid: number
  gid: number
}

/** Name of the superuser of every managed server; it logs in only over the Unix socket, by peer identity. */
export const ADMIN_ROLE = 'tidepool'
/** Owner of every object in a mirror's database; clone roles are members, so they can run DDL. */
export const OWNER_ROLE = 'tidepool_owner'

export async function resolveRunAs(user: string): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '')
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':')
    if (name === user && uid !== undefined && gid !== undefined) return { user, uid: Number(uid), gid: Number(gid) }
  }
  throw new AppError(
    'runtime_unavailable',
    `tidepool runs as root and PostgreSQL refuses to; the OS user ${JSON.stringify(user)} (data.runAsUser) does not exist: create it (apt-get install postgresql-15 creates "postgres") or set data.runAsUser`,
  )
}

/** The OS user tidepool connects as (peer authentication maps it to ADMIN_ROLE). */
export const osUserName = () => userInfo().username

export interface ServerSettings {
  sharedBuffersMb: number
  maxConnections: number
  /** fsync and full-page writes on. */
  durable: boolean
}

/**
 * Who may log in how. The admin role: only over the Unix socket, only from tidepool's own OS user (peer);
 * never over TCP. Everyone else: a password (SCRAM). `sameuser` on a shared server (template strategy)
 * keeps each clone role to the database of its own name.
 */
export function hbaConf(shared: boolean): string {
  const db = shared ? 'sameuser' : 'all'
  return [
    '# managed by tidepool',
    `local all ${ADMIN_ROLE} peer map=tidepool`,
    `local all ${ADMIN_ROLE} reject`,
    `host all ${ADMIN_ROLE} all reject`,
    `local ${db} all scram-sha-256`,
    `host ${db} all 127.0.0.1/32 scram-sha-256`,
    `host ${db} all ::1/128 scram-sha-256`,
    '',
  ].join('\n')
}

/** initdb a fresh data dir owned by `runAs`, with tidepool's authentication and settings. */
export async function initDataDir(bins: PgBinaries, dataDir: string, runAs: RunAs | undefined, settings: ServerSettings): Promise<void> {
  // Parents stay searchable (0755) for the server's user; the data dir itself is private to it.
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o755 })
  await mkdir(dataDir, { mode: 0o700 })
  if (runAs) await chown(dataDir, runAs.uid, runAs.gid)
  await runCommand(join(bins.dir, 'initdb'), ['-D', dataDir, '-U', ADMIN_ROLE, '-E', 'UTF8', '--locale=C', '--auth-local=peer', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions'], {
    ...ids(runAs),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  })
  await writeFile(join(dataDir, 'pg_hba.conf'), hbaConf(false))
  await writeFile(join(dataDir, 'pg_ident.conf'), `# managed by tidepool\ntidepool ${osUserName()} ${ADMIN_ROLE}\n`)
  await appendFile(join(dataDir, 'postgresql.conf'), settingsConf(settings))
}

function settingsConf(s: ServerSettings): string {
  const lines = [
    '',
    '# tidepool: small, fast-starting servers; port, sockets and name are set on the command line',
    "listen_addresses = ''",
    `max_connections = ${s.maxConnections}`,
    `shared_buffers = ${s.sharedBuffersMb}MB`,
    'huge_pages = off',
    'unix_socket_permissions = 0777',
    "password_encryption = 'scram-sha-256'",
    'max_wal_size = 1GB',
    'min_wal_size = 32MB',
    'checkpoint_timeout = 30min',
    'logging_collector = off',
    'log_min_messages = warning',
    "log_line_prefix = '%m [%p] '",
    `fsync = ${s.durable ? 'on' : 'off'}`,
    `full_page_writes = ${s.durable ? 'on' : 'off'}`,
    `synchronous_commit = ${s.durable ? 'on' : 'off'}`,
    '',
  ]
  return lines.join('\n')
}

export interface StartOptions {
  bins: PgBinaries
  dataDir: string
  port: number
  socketDir: string
  /** Shown in the process titles (`postgres: <name>: checkpointer`); contains "tidepool" while the server lives. */
  name: string
  runAs: RunAs | undefined
  logFile: string
  /** Give up waiting for "ready" after this long (crash recovery of a big cluster can take a while). */
  timeoutMs?: number
  /** Extra settings for this run only (-c name=value). */
  settings?: Record<string, string>
}

/** The port is taken by someone else: pick another and retry. */
export class PortInUseError extends Error {
  override name = 'PortInUseError'
}

/** Starts of one server in all when its port keeps being taken (the first port and five others). */
export const START_ATTEMPTS = 6

/**
 * Starts `postgres` directly (no pg_ctl: it polls every 100 ms), detached so it outlives tidepool, and
 * resolves as soon as postmaster.pid says "ready". Rejects with the server's own log lines if it exits.
 */
export async function startServer(o: StartOptions): Promise<{ pid: number }> {
  await mkdir(o.socketDir, { recursive: true, mode: 0o755 })
  if (o.runAs) await chown(o.socketDir, o.runAs.uid, o.runAs.gid)
  const log = await open(o.logFile, 'a')
  if (o.runAs) await log.chown(o.runAs.uid, o.runAs.gid)
  const args = ['-D', o.dataDir, '-p', String(o.port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${o.socketDir}`, '-c', `cluster_name=${o.name}`]
  for (const [k, v] of Object.entries(o.settings ?? {})) args.push('-c', `${k}=${v}`)
  const child = spawn(join(o.bins.dir, 'postgres'), args, {
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
    env: childEnv(),
    ...ids(o.runAs),
  })
  await log.close()
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let spawnError: Error | undefined
  child.once('exit', (code, signal) => (exited = { code, signal }))
  child.once('error', (e) => (spawnError = e))
  child.unref()
  const deadline = Date.now() + (o.timeoutMs ?? 120_000)
  const pidFile = join(o.dataDir, 'postmaster.pid')
  for (;;) {
    if (spawnError) throw new AppError('runtime_unavailable', `cannot start ${o.bins.dir}/postgres: ${spawnError.message}`)
    if (exited) {
      const tail = await logTail(o.logFile)
      if (/could not bind|Address already in use/i.test(tail)) throw new PortInUseError(`port ${o.port} is in use`)
      throw new AppError('internal', `PostgreSQL server ${o.name} exited during start (${exited.code ?? exited.signal}): ${tail}`)
    }
    const text = await readFile(pidFile, 'utf8').catch(() => '')
    const lines = text.split('\n')
    if (lines[0] === String(child.pid) && lines[7]?.trim() === 'ready') return { pid: child.pid! }
    if (Date.now() > deadline) {
      await killGroup(child.pid!, 'SIGKILL')
      throw new AppError('internal', `PostgreSQL server ${o.name} did not become ready in ${o.timeoutMs ?? 120_000} ms: ${await logTail(o.logFile)}`)
    }
    await sleep(1)
  }
}

/** The live postmaster of `dataDir`, verified against /proc (a stale pid file or a reused pid is not it). */
export async function serverPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')
  const pid = Number(text.split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  return (await postmasterDataDir(pid)) === resolve(dataDir) ? pid : undefined
}

/** The `-D` argument of a live postmaster process, or undefined. */
async function postmasterDataDir(pid: number): Promise<string | undefined> {
  if (!(await isAlive(pid))) return undefined
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')
  if (!argv[0]?.endsWith('postgres')) return undefined
  const i = argv.indexOf('-D')
  return i >= 0 && argv[i + 1] ? resolve(argv[i + 1]!) : undefined
}

/**
 * Stops the server of `dataDir`. fast: clean shutdown with a checkpoint (what a base to clone from
 * needs: clones then start without crash recovery). immediate: for data about to be thrown away.
 * Escalates to SIGKILL of the whole process group if it hangs. Idempotent.
 */
export async function stopServer(dataDir: string, mode: 'fast' | 'immediate', timeoutMs = 60_000): Promise<void> {
  const pid = await serverPid(dataDir)
  if (!pid) return
  await stopPid(pid, mode, timeoutMs)
}

export async function stopPid(pid: number, mode: 'fast' | 'immediate', timeoutMs = 60_000): Promise<void> {
  signal(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT')
  if (await waitGone(pid, timeoutMs)) return
  signal(pid, 'SIGQUIT')
  if (await waitGone(pid, 5_000)) return
  await killGroup(pid, 'SIGKILL')
  await waitGone(pid, 5_000)
}

/** Postmasters whose data dir lies under `root` (for reaping strays after a crash). */
export async function postmastersUnder(root: string): Promise<{ pid: number; dataDir: string }[]> {
  const prefix = `${resolve(root)}/`
  const out: { pid: number; dataDir: string }[] = []
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue
    const dir = await postmasterDataDir(Number(name)).catch(() => undefined) // a process that exits while /proc is read is not a postmaster of ours
    if (dir?.startsWith(prefix)) out.push({ pid: Number(name), dataDir: dir })
  }
  return out
}

async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return stat !== '' && state !== 'Z' && state !== 'X'
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!(await isAlive(pid))) return true
    await sleep(1)
  }
  return !(await isAlive(pid))
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

async function killGroup(pid: number, sig: NodeJS.Signals): Promise<void> {
  try {
    process.kill(-pid, sig)
  } catch {
    signal(pid, sig)
  }
}

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.trim().split('\n').slice(-8).join(' | ') || '(no log output)'
}

function ids(runAs: RunAs | undefined): { uid?: number; gid?: number } {
  return runAs ? { uid: runAs.uid, gid: runAs.gid } : {}
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
