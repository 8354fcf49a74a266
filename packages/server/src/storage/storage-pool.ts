/** @module storage/storage-pool — opens the StoragePool (storage/pool.ts) a data directory asks for: reflink, a loop-mounted XFS image, or copy. */
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Logger } from '../core/log.js'
import { DirPool } from './dir-pool.js'
import type { PoolKind, StoragePool } from './pool.js'
import { bindMount, mountImage, unmountImage, xfsToolsMissing } from './loop-image.js'
import { PoolUnavailableError } from './pool-errors.js'
import { supportsReflink } from './reflink-probe.js'

export { PoolFullError, PoolUnavailableError } from './pool-errors.js'
export type { PoolKind, PoolSpace, PoolUsage, StoragePool } from './pool.js'

export interface StoragePoolOptions {
  /** Directory the pool lives in (created). On a non-reflink filesystem the XFS image and its mount point go here too. */
  dir: string
  /** `auto`: reflink if the dir supports it or an XFS image can be made (root + xfsprogs), else copy with a warning. */
  kind: 'auto' | PoolKind
  /** Size of the sparse XFS image created when the dir's filesystem cannot reflink. */
  imageSizeMb: number
  /**
   * Where the pool is reached while open (the image's mount point, or a bind mount of the dir), instead of
   * inside `dir`: lets a private (0700) `dir` hold the data while a process of another user reaches the
   * pool through a dir it may enter. Unmounted and removed by close(). Needs root.
   */
  mountAt?: string
  log?: Logger
}

/** The image file and its mount point inside a pool dir. The mount point's name says "tidepool" only while mounted. */
export function imagePaths(dir: string): { image: string; mountPoint: string } {
  return { image: join(dir, 'pool.xfs.img'), mountPoint: join(dir, 'tidepool-pool.mnt') }
}

/** Opens (creating and mounting where needed) the storage pool under `opts.dir`. */
export async function openStoragePool(opts: StoragePoolOptions): Promise<StoragePool> {
  const dir = resolve(opts.dir)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  if (opts.kind === 'copy') return dirPool(join(dir, 'copy'), false, opts.mountAt)

  const { image } = imagePaths(dir)
  const mountPoint = opts.mountAt ? resolve(opts.mountAt) : imagePaths(dir).mountPoint
  const direct = join(dir, 'reflink')
  await mkdir(direct, { recursive: true })
  if (await supportsReflink(direct)) return dirPool(direct, true, opts.mountAt)

  const missing = await xfsToolsMissing()
  const whyNot = process.getuid?.() !== 0 ? 'mounting an XFS image needs root' : missing ? `${missing} is not installed (apt-get install -y xfsprogs)` : undefined
  if (whyNot) {
    if (opts.kind === 'reflink') throw new PoolUnavailableError(`data.storage.kind is reflink but ${dir} cannot reflink and ${whyNot}; use an XFS/Btrfs dir or kind: copy`)
    opts.log?.warn({ dir, reason: whyNot }, 'storage pool: no reflink filesystem; falling back to full copies (slow, O(size))')
    return dirPool(join(dir, 'copy'), false, opts.mountAt)
  }
  await mountImage({ image, mountPoint, sizeMb: opts.imageSizeMb, ...(opts.log ? { log: opts.log } : {}) })
  try {
    if (!(await supportsReflink(mountPoint))) throw new PoolUnavailableError(`XFS image ${image} mounted at ${mountPoint} cannot reflink; remove the image so tidepool recreates it with reflink=1`)
  } catch (err) {
    await unmountImage(mountPoint).catch(() => undefined)
    throw err
  }
  return new DirPool({ root: mountPoint, reflink: true, backing: 'image', onClose: () => unmountImage(mountPoint) }).init()
}

/** A pool over `root`, reached there or (mountAt) through a bind mount. */
async function dirPool(root: string, reflink: boolean, mountAt: string | undefined): Promise<StoragePool> {
  if (!mountAt) return new DirPool({ root, reflink, backing: 'dir' }).init()
  // Searchable (0755) so the other user gets through once past the dir mountAt sits in; `dir` above it stays 0700.
  await mkdir(root, { recursive: true, mode: 0o755 })
  const mp = resolve(mountAt)
  await bindMount(root, mp)
  return new DirPool({ root: mp, reflink, backing: 'dir', onClose: () => unmountImage(mp) }).init()
}
