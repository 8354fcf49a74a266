/**
 * @module store/sqlite-file — the SQLite file is checked before and after it is opened: a damaged store
 * never starts as a fresh install (which would mint a new admin token and an empty audit chain) and
 * never serves from garbage pages. Every refusal names the file and says what to do.
 */
import { chmodSync, closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import type SQLite from 'better-sqlite3'
import { AppError } from '../core/errors.js'

/** First 16 bytes of every SQLite 3 database file. */
const HEADER = Buffer.from('SQLite format 3\0', 'latin1')

/** Files and dirs a tidepool home holds once it has run: seeing one beside an empty store means the store was lost. */
const HOME_STATE = [/^admin\.token$/, /^runtime$/, /^data$/, /^audit/]

/** Kysely's migration table: every store tidepool has opened once has it. */
const MIGRATION_TABLE = 'kysely_migration'

export type StoreProblem = 'empty' | 'not_sqlite' | 'corrupt' | 'unmigrated'

export interface StoreFileState {
  /** The file existed before this open (with content). */
  existed: boolean
  /** Other tidepool state beside the file (admin.token, runtime/, data/, audit files). */
  homeState: string[]
}

const what = (file: string) => `restore ${file} from a backup (with its -wal file, if any), or move it and the rest of ${dirname(file)} away to start fresh`

export function damaged(file: string, problem: StoreProblem, detail: string, cause?: unknown): AppError {
  return new AppError('runtime_unavailable', `the store ${file} is damaged (${detail}); tidepool will not start over it: ${what(file)}`, { file, problem }, cause === undefined ? undefined : { cause })
}

/**
 * Before opening: an existing file must be a SQLite database with content. A 0-byte file or another
 * format is refused (SQLite itself would treat a 0-byte file as a new, empty database).
 */
export function checkBeforeOpen(file: string): StoreFileState {
  const homeState = stateBeside(file)
  if (!existsSync(file)) {
    if (homeState.length > 0) throw damaged(file, 'unmigrated', `it is missing, yet ${dirname(file)} holds ${homeState.join(', ')} from an earlier run`)
    return { existed: false, homeState }
  }
  const st = statSync(file)
  if (!st.isFile()) throw damaged(file, 'not_sqlite', 'it is not a regular file')
  if (st.size === 0) throw damaged(file, 'empty', 'the file is empty (0 bytes)')
  const head = Buffer.alloc(HEADER.length)
  const fd = openSync(file, 'r')
  let n: number
  try {
    n = readSync(fd, head, 0, head.length, 0)
  } finally {
    closeSync(fd)
  }
  if (n < HEADER.length || !head.equals(HEADER)) throw damaged(file, 'not_sqlite', `not a SQLite database: its first bytes are not "SQLite format 3" (${st.size} bytes)`)
  return { existed: true, homeState }
}

/** The database and the -wal/-shm SQLite makes beside it: private to tidepool's user (0600). */
export function tightenModes(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600)
    } catch {
      // not there (yet): SQLite creates -wal/-shm with the database file's mode
    }
  }
}

/**
 * After opening, before migrating: the pages must be sound (`PRAGMA quick_check`: every page and
 * record well-formed, without the index-vs-table cross-check of integrity_check, which costs a full
 * sort per index), and a file tidepool never migrated must not sit in a home that has run before.
 */
export function checkAfterOpen(file: string, sqlite: SQLite.Database, state: StoreFileState): void {
  let rows: { quick_check: string }[]
  try {
    rows = sqlite.pragma('quick_check(5)') as { quick_check: string }[]
  } catch (err) {
    throw damaged(file, 'corrupt', `SQLite cannot read it: ${(err as Error).message}`, err)
  }
  const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok')
  if (problems.length > 0) throw damaged(file, 'corrupt', `PRAGMA quick_check found: ${problems.join('; ')}`)
  const migrated = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(MIGRATION_TABLE) !== undefined
  if (!migrated && state.existed && state.homeState.length > 0) {
    throw damaged(file, 'unmigrated', `it has no migration table (it was replaced or reset), yet ${dirname(file)} holds ${state.homeState.join(', ')} from an earlier run`)
  }
}

/** SQLite's own "this is not a database / it is corrupt" failures, met while opening. */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? ''
  return code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')
}

function stateBeside(file: string): string[] {
  const name = basename(file)
  let entries: string[]
  try {
    entries = readdirSync(dirname(file))
  } catch {
    return []
  }
  return entries.filter((e) => !e.startsWith(name) && HOME_STATE.some((re) => re.test(e))).sort()
}
