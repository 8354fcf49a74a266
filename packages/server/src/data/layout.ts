/** @module data/layout — where the data area keeps things: the pool dir, socket dirs, and paths inside the pool. */
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { AppError } from '../core/errors.js'

const hash8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)

/** True when every directory from / down to `dir` lets others search it (o+x), so the PostgreSQL user reaches it. */
function searchableByOthers(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false
    } catch {
      // not created yet: its parent decides
    }
    if (d === dirname(d)) return true
  }
}

/**
 * The pool dir. As root, PostgreSQL runs as another user who must reach the data dirs; a home under
 * /root (0700) is out of its reach, so the default moves to /var/lib/tidepool/data-<hash of home>.
 */
export function resolveDataDir(home: string, configured: string | undefined): string {
  if (configured) return resolve(configured)
  const inHome = join(resolve(home), 'data')
  if (process.getuid?.() !== 0 || searchableByOthers(dirname(inHome))) return inHome
  return `/var/lib/tidepool/data-${hash8(resolve(home))}`
}

/** Parent of the per-server socket dirs; short, because a socket path may not exceed 107 bytes. */
export function resolveSocketRoot(dataDir: string, configured: string | undefined): string {
  const root = configured
    ? resolve(configured)
    : process.getuid?.() === 0
      ? `/run/tidepool-data-${hash8(dataDir)}`
      : join(tmpdir(), `tidepool-data-${process.getuid?.() ?? 0}-${hash8(dataDir)}`)
  // <root>/<id of up to 26 chars>/.s.PGSQL.<port>
  if (root.length + 1 + 26 + 15 > 107) {
    throw new AppError('invalid_request', `data.socketDir ${root} is too long for Unix socket paths (max ${107 - 42} characters); set a shorter data.socketDir`)
  }
  return root
}

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
