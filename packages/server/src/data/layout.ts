/**
 * @module data/layout — where the data area keeps things. Everything that lasts (the XFS image or the
 * pool dir) lives in `<home>/data` (0700). What exists only while the server runs — the Unix socket
 * dirs and, as root, the mount point through which the PostgreSQL user reaches the pool — lives in one
 * run dir, removed at a clean stop: `/run/tidepool-<hash of the data dir>` as root (short, so socket
 * paths fit 107 bytes, and outside the 0700 home the PostgreSQL user cannot enter), else
 * `<home>/data/run`, or `<tmp>/tidepool-<uid>-<hash>` when the home is too long for socket paths.
 */
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { AppError } from '../core/errors.js'

const hash8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)

/** <run dir>/<server id of up to 26 chars>/.s.PGSQL.<port> must fit sun_path (107 bytes). */
const fitsSockets = (root: string) => root.length + 1 + 26 + 15 <= 107

/** The pool dir: `<home>/data` unless data.dir says otherwise. */
export function resolveDataDir(home: string, configured: string | undefined): string {
  return configured ? resolve(configured) : join(resolve(home), 'data')
}

/** The run dir (see the module comment); data.socketDir sets it. */
export function resolveSocketRoot(dataDir: string, configured: string | undefined): string {
  let root: string
  if (configured) root = resolve(configured)
  else if (process.getuid?.() === 0) root = `/run/tidepool-${hash8(dataDir)}`
  else root = fitsSockets(join(dataDir, 'run')) ? join(dataDir, 'run') : join(tmpdir(), `tidepool-${process.getuid?.() ?? 0}-${hash8(dataDir)}`)
  if (!fitsSockets(root)) {
    throw new AppError('invalid_request', `data.socketDir ${root} is too long for Unix socket paths (max ${107 - 42} characters); set a shorter data.socketDir`)
  }
  return root
}

/** Where the pool is reached while the server runs, when PostgreSQL runs as another user (root): inside the run dir. */
export const poolMountIn = (runDir: string) => join(runDir, 'pool')

/** Where an older version kept the data area as root (/var/lib/tidepool/data-<hash of home>); only to point at it. */
export const legacyDataDir = (home: string) => `/var/lib/tidepool/data-${hash8(resolve(home))}`

/** Paths inside the pool, relative to its root (stored in the database so a moved mount point still works). */
export const paths = {
  mirrorVersion: (mirrorId: string, version: number) => `mirrors/${mirrorId}/v${version}`,
  clone: (cloneId: string) => `clones/${cloneId}`,
  cloneData: (cloneId: string) => `clones/${cloneId}/pgdata`,
  cloneSpare: (cloneId: string) => `clones/${cloneId}/spare`,
  cloneStart: (cloneId: string) => `clones/${cloneId}/start`,
  cloneSnapshot: (cloneId: string, snapId: string) => `clones/${cloneId}/snapshots/${snapId}`,
  server: (serverId: string) => `servers/${serverId}`,
  trash: (name: string) => `trash/${name}`,
}
