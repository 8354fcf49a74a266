/**
 * @module data/run-dir — the data area's run dir (see data/layout): made private before first use, and
 * emptied and removed at a clean stop, so nothing of a stopped server stays in /run or /tmp.
 */
import { chmod, chown, lstat, mkdir, readdir, rm, rmdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { AppError } from '../core/errors.js'
import { isMounted } from '../storage/loop-image.js'
import type { RunAs } from './pg-server.js'

/**
 * Creates the run dir (or takes over one a crash left): a real directory owned by tidepool's user,
 * 0700 — or 0710 with the PostgreSQL user's group when servers run as that user, who must pass
 * through it to its sockets and the pool, but may not list it. Anything else at the path is refused.
 */
export async function prepareRunDir(dir: string, runAs: RunAs | undefined): Promise<void> {
  await mkdir(dirname(dir), { recursive: true })
  await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e
  })
  const st = await lstat(dir)
  const uid = process.getuid?.() ?? 0
  if (!st.isDirectory() || st.uid !== uid) {
    throw new AppError(
      'runtime_unavailable',
      `the data run dir ${dir} exists but is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? `owned by uid ${st.uid}` : 'not a directory'}; remove it, or set data.socketDir to a dir tidepool may own`,
      { path: dir },
    )
  }
  if (runAs) await chown(dir, uid, runAs.gid)
  await chmod(dir, runAs ? 0o710 : 0o700)
}

/**
 * After every server stopped and the pool was closed: removes the socket dirs (dirs holding only
 * `.s.PGSQL.*` sockets and lock files), the empty pool mount point, then the run dir itself. Never
 * recurses into a mount point or a dir with anything else in it; what stays is returned.
 */
export async function clearRunDir(dir: string): Promise<string[]> {
  const kept: string[] = []
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name)
    if (await isMounted(p)) {
      kept.push(`${p} (still mounted)`)
      continue
    }
    const st = await lstat(p).catch(() => undefined) // gone meanwhile: nothing to remove
    if (!st?.isDirectory()) {
      kept.push(p)
      continue
    }
    const inside = await readdir(p).catch(() => [] as string[])
    if (inside.every((f) => f.startsWith('.s.PGSQL.'))) await rm(p, { recursive: true, force: true })
    else kept.push(p)
  }
  if (kept.length === 0) await rmdir(dir).catch(() => undefined) // refilled meanwhile: it stays, as its new entries do
  return kept
}
