/** @module runtime/local/btrfs-layers — the `btrfs` layer driver: each layer a subvolume of the disk pool (disk-pool.ts), snapshots by the helper's ioctl, diskMb by qgroups. */
import { existsSync, statfsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { PreflightCheck } from '../runtime.js'
import { DiskPool, type DiskPoolOptions } from './disk-pool.js'
import type { CreateArgs } from './helper-args.js'
import type { LayerDriver, LayerUsage } from './layer-driver-types.js'
import { deleteSubvolume, snapshotSubvolume } from './subvolumes.js'

export class BtrfsLayers implements LayerDriver {
  readonly kind = 'btrfs'
  readonly enforcesDiskMb = true
  readonly pool: DiskPool
  readonly #helperPath: string

  constructor(o: DiskPoolOptions) {
    this.pool = new DiskPool(o)
    this.#helperPath = o.helperPath
  }

  preflight(): PreflightCheck {
    return this.pool.preflight()
  }

  ensure(): Promise<void> {
    return this.pool.ensure()
  }

  adopt(): Promise<void> {
    return this.pool.adopt()
  }

  /** The helper makes `dir` a subvolume (empty, or a writable snapshot of `from`) limited to `bytes`, and the layer's dirs in it. */
  prepare(dir: string, bytes: number, _plan: unknown, _uidBase: number, from?: string): Promise<CreateArgs['disk']> {
    return Promise.resolve({ subvolume: dir, bytes, ...(from ? { from } : {}) })
  }

  /** One BTRFS_IOC_SNAP_CREATE_V2; the layer's qgroup, read after the capture's commit, gives the bytes. */
  async capture(source: string, dest: string, what: string): Promise<{ subvolume: number; bytes: number }> {
    const subvolume = await snapshotSubvolume(this.#helperPath, source, dest, what)
    return { subvolume, bytes: this.pool.usage(source)?.bytes ?? 0 }
  }

  /**
   * A subvolume goes in one ioctl whatever it holds (a sandbox started from a 1 GB snapshot holds 10,000
   * files an rm -r would unlink one by one); the kernel frees its extents and drops its qgroup in the
   * background. A dir that is no subvolume (a start that failed before making it) goes by rm -r.
   */
  async remove(path: string, what: string): Promise<void> {
    if (!existsSync(path)) return
    try {
      return await deleteSubvolume(this.#helperPath, path, what)
    } catch {
      // no subvolume (or no helper): what an rm -r can remove, it removes; what it cannot, it reports
    }
    await rm(path, { recursive: true, force: true, maxRetries: 3 })
  }

  /** From the kernel's qgroup counters (as of the last transaction commit). */
  usage(sandboxDir: string): Promise<LayerUsage | undefined> {
    const u = this.pool.usage(sandboxDir)
    if (!u) return Promise.resolve(undefined)
    const id = this.pool.subvolumeOf(sandboxDir)
    const exclusive = id === undefined ? undefined : this.pool.qgroupBytes(id, 'exclusive')
    return Promise.resolve({ bytes: u.bytes, exclusiveBytes: exclusive ?? u.bytes, limitBytes: u.limitBytes })
  }

  /**
   * Under full qgroups the snapshot's own qgroup is exact (referenced; exclusive = what deleting frees).
   * Under simple quotas (what the pool uses on Linux 6.7+) every extent stays charged to the subvolume
   * that wrote it, so the snapshot's qgroup holds only its metadata: bytes is then what the sandbox's
   * qgroup counted at the capture (exact: read after the capture's commit, before the thaw; but only the
   * data the sandbox wrote itself: what it had from a snapshot it started from stays charged to that
   * data's writer), and exclusiveBytes cannot be told, so equals bytes.
   */
  snapshotUsage(_dir: string, subvolume: number, recorded: number): Promise<{ bytes: number; exclusiveBytes: number }> {
    if (this.pool.quotaMode() === 'full') {
      const bytes = this.pool.qgroupBytes(subvolume, 'referenced')
      const exclusiveBytes = this.pool.qgroupBytes(subvolume, 'exclusive')
      if (bytes !== undefined && exclusiveBytes !== undefined) return Promise.resolve({ bytes, exclusiveBytes })
    }
    return Promise.resolve({ bytes: recorded, exclusiveBytes: recorded })
  }

  setLimit(id: string, sandboxDir: string, bytes: number): Promise<void> {
    if (this.pool.usage(sandboxDir)?.limitBytes === bytes) return Promise.resolve()
    return this.pool.setLimit(id, sandboxDir, bytes)
  }

  space(): Promise<{ totalBytes: number; freeBytes: number } | undefined> {
    return Promise.resolve(statfsOf(this.pool.mountPoint))
  }

  release(): Promise<void> {
    return this.pool.release()
  }
}

/** statfs of a mounted pool (what an unprivileged writer may still take), or undefined when nothing is there. */
export function statfsOf(path: string): { totalBytes: number; freeBytes: number } | undefined {
  try {
    const s = statfsSync(path)
    return { totalBytes: Number(s.blocks) * Number(s.bsize), freeBytes: Number(s.bavail) * Number(s.bsize) }
  } catch {
    return undefined
  }
}
