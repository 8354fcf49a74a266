/**
 * @module templates/oci/layer-paths — archive paths made safe, and resolved inside a rootfs the way a
 * chroot would see them, without ever letting the kernel follow a symlink.
 */
import { lstat, lchown, mkdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { OciError } from './oci-error.js'

/** Symlinks followed while resolving one path, as Linux's MAXSYMLINKS. */
const maxLinkHops = 40

/**
 * The components of an archive path: `./a//b/` → ['a', 'b']. An absolute path, a `..` component or a NUL
 * is refused (OciError bad_image): a layer that needs them is either broken or an attack.
 */
export function archivePath(path: string, what: string): string[] {
  if (path.startsWith('/')) throw new OciError('bad_image', `${what}: absolute path ${JSON.stringify(path.slice(0, 200))} refused`)
  if (path.includes('\0')) throw new OciError('bad_image', `${what}: path with a NUL byte refused`)
  const out: string[] = []
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue
    if (c === '..') throw new OciError('bad_image', `${what}: path ${JSON.stringify(path.slice(0, 200))} has a '..' component; refused`)
    out.push(c)
  }
  return out
}

export interface ResolveOptions {
  /** Create missing directories (mode 0755, owned by `owner`); else a missing one ends the walk with undefined. */
  create?: { owner: number }
  what: string
}

/**
 * Resolves directory components under `root` as the image will see them: a symlink met on the way is
 * read and followed *lexically* inside `root` (an absolute target restarts at `root`, `..` stops at it),
 * the way containerd applies layers, so `lib/x` still lands in `usr/lib/x` on a merged-usr image, and a
 * planted `a -> /etc` makes `a/passwd` land in `<root>/etc/passwd`, never the host's. Every returned
 * component was lstat'ed as a real directory, so the caller may use the joined path with calls that
 * act on its last component only (O_NOFOLLOW, lchown, symlink, link, unlink).
 * Nobody else writes into the tree while we unpack, so the checks cannot be raced.
 */
export async function resolveDir(root: string, comps: readonly string[], o: ResolveOptions): Promise<string[] | undefined> {
  const out: string[] = []
  const pending = [...comps]
  let hops = 0
  while (pending.length > 0) {
    const c = pending.shift() as string
    if (c === '' || c === '.') continue
    if (c === '..') {
      out.pop()
      continue
    }
    const p = join(root, ...out, c)
    const st = await lstat(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (st === undefined) {
      if (!o.create) return undefined
      await mkdir(p, { mode: 0o755 })
      await lchown(p, o.create.owner, o.create.owner)
      out.push(c)
      continue
    }
    if (st.isSymbolicLink()) {
      if (++hops > maxLinkHops) throw new OciError('bad_image', `${o.what}: more than ${maxLinkHops} symlinks while resolving ${comps.join('/')}`)
      const target = await readlink(p)
      if (target.startsWith('/')) out.length = 0
      pending.unshift(...target.split('/'))
      continue
    }
    if (!st.isDirectory()) {
      if (!o.create) return undefined
      throw new OciError('bad_image', `${o.what}: ${[...out, c].join('/')} is not a directory, but ${comps.join('/')} needs it to be one`)
    }
    out.push(c)
  }
  return out
}
