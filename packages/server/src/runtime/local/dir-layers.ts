/**
 * @module runtime/local/dir-layers — the `reflink` and `copy` layer drivers: each layer a plain
 * directory in a storage pool (storage/storage-pool.ts) reached at `<dataDir>/sandboxes`, a snapshot or
 * fork `cp -a` of the layer's upper/ (`--reflink=always` on a reflink filesystem: every file cloned, no
 * byte copied; O(files)). A data dir on a filesystem that cannot reflink gets a sparse loop-mounted XFS
 * image (reflink=1) for `reflink`. Neither enforces resources.diskMb: XFS project quotas need the
 * kernel's CONFIG_XFS_QUOTA and a quota mount, which this driver does not set up, so diskMb is refused
 * there rather than ignored (local-runtime.ts).
 */
import { chown, lstat, mkdir, readdir, rm } from 'node:fs/promises'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Logger } from '../../core/log.js'
import { openStoragePool, PoolFullError, type StoragePool } from '../../storage/storage-pool.js'
import type { PreflightCheck } from '../runtime.js'
import type { LayerDriver, LayerUsage } from './layer-driver-types.js'
import type { MountPlan } from './mounts.js'
import { RuntimeError, messageOf } from './runtime-error.js'
import type { RuntimeLogger } from './runtime-logger.js'

export interface DirLayersOptions {
  /** The runtime's data dir: the pool is reached at `<dataDir>/sandboxes`, its data in `<dataDir>/layers-<instance>`. */
  dataDir: string
  instance: string
  /** `auto`: reflink where it can be had (the dir's filesystem, or an XFS image), else copy with a warning. */
  kind: 'auto' | 'reflink' | 'copy'
  /** Size of the sparse XFS image made when the data dir's filesystem cannot reflink. */
  sizeMb: number
  log: RuntimeLogger
}

export class DirLayers implements LayerDriver {
  readonly enforcesDiskMb = false
  readonly #o: DirLayersOptions
  readonly #poolDir: string
  readonly #root: string
  #pool: Promise<StoragePool> | undefined
  #kind: 'reflink' | 'copy' | undefined

  constructor(o: DirLayersOptions) {
    this.#o = o
    this.#poolDir = join(o.dataDir, `layers-${o.instance}`)
    this.#root = join(o.dataDir, 'sandboxes')
  }

  get kind(): 'reflink' | 'copy' {
    return this.#kind ?? (this.#o.kind === 'copy' ? 'copy' : 'reflink')
  }

  preflight(): PreflightCheck {
    const what = this.#o.kind === 'copy' ? 'full copies (cp -a; O(bytes))' : 'reflink clones (cp --reflink=always; O(files)), or full copies where no reflink filesystem can be had'
    return {
      name: 'disk limits',
      ok: true,
      detail: `writable layers are plain directories at ${this.#root}, snapshots and forks by ${what}; resources.diskMb is not enforced by this driver (runtime.disk.driver = ${this.#o.kind})`,
    }
  }

  ensure(): Promise<void> {
    this.#pool ??= this.#open().catch((err: unknown) => {
      this.#pool = undefined
      throw err
    })
    return this.#pool.then(() => undefined)
  }

  async adopt(): Promise<void> {
    if (this.#pool || existsSync(this.#poolDir)) await this.ensure()
  }

  async #open(): Promise<StoragePool> {
    const log = this.#o.log
    const logger: Logger = { debug: log.debug.bind(log), info: log.info.bind(log), warn: log.warn.bind(log), error: log.error.bind(log), child: () => logger }
    const pool = await openStoragePool({ dir: this.#poolDir, kind: this.#o.kind, imageSizeMb: this.#o.sizeMb, mountAt: this.#root, log: logger })
    this.#kind = pool.kind
    return pool
  }

  async #p(): Promise<StoragePool> {
    await this.ensure()
    return this.#pool!
  }

  async prepare(dir: string, _bytes: number, plan: MountPlan, uidBase: number, from?: string): Promise<undefined> {
    const pool = await this.#p()
    try {
      if (from) await pool.clone(join(from, 'upper'), join(dir, 'upper'))
      else await mkdir(dir, { mode: 0o755 })
      for (const o of plan.overlays) {
        await mkdir(o.upper, { recursive: true, mode: 0o755 })
        await mkdir(o.work, { recursive: true, mode: 0o755 })
      }
      await mkdir(plan.root, { recursive: true, mode: 0o755 })
      // The root of the writable layer is what / looks like inside: owned by the sandbox's root.
      await chown(plan.overlays[0]!.upper, uidBase, uidBase)
    } catch (err) {
      throw asRuntimeError(err, `make the writable layer ${dir}`)
    }
    return undefined
  }

  async capture(source: string, dest: string, what: string): Promise<{ subvolume: number; bytes: number }> {
    const pool = await this.#p()
    try {
      await mkdir(dirname(dest), { recursive: true, mode: 0o700 })
      await mkdir(dest, { mode: 0o700 })
    } catch (err) {
      throw asRuntimeError(err, what)
    }
    try {
      await pool.clone(join(source, 'upper'), join(dest, 'upper'))
    } catch (err) {
      await rm(dest, { recursive: true, force: true })
      throw asRuntimeError(err, what)
    }
    return { subvolume: 0, bytes: 0 }
  }

  async remove(path: string, what: string): Promise<void> {
    if (!existsSync(path)) return
    try {
      await (await this.#p()).remove(path)
    } catch (err) {
      throw asRuntimeError(err, what)
    }
  }

  async usage(sandboxDir: string): Promise<LayerUsage | undefined> {
    if (!existsSync(join(sandboxDir, 'upper'))) return undefined
    return (await this.#p()).usage(join(sandboxDir, 'upper'))
  }

  /** Measured now: allocated blocks (du), and on reflink the part not shared with another clone (FIEMAP). */
  async snapshotUsage(dir: string): Promise<{ bytes: number; exclusiveBytes: number }> {
    const u = await (await this.#p()).usage(join(dir, 'upper'))
    return { bytes: u.bytes, exclusiveBytes: u.exclusiveBytes }
  }

  setLimit(id: string): Promise<void> {
    return Promise.reject(unsupportedDiskMb(this.kind, `sandbox ${id}`))
  }

  async space(): Promise<{ totalBytes: number; freeBytes: number } | undefined> {
    if (!this.#pool) return undefined
    return (await this.#pool).space()
  }

  /** Unmounts and deletes the pool (its image or dir) when no layer and no snapshot is left in it. */
  async release(): Promise<void> {
    if (!this.#pool && !existsSync(this.#poolDir)) return
    const pool = await this.#p()
    try {
      await rmEmptyDir(join(this.#root, '.snapshots'))
      if (readdirSync(this.#root).length > 0) return
    } catch {
      return
    }
    this.#pool = undefined
    this.#kind = undefined
    await pool.close()
    await rm(this.#poolDir, { recursive: true, force: true })
  }
}

/** resources.diskMb on a driver that cannot enforce it: refused, never silently ignored. */
export function unsupportedDiskMb(kind: string, what: string): RuntimeError {
  return new RuntimeError(
    'invalid_request',
    `unsupported: resources.diskMb cannot be enforced for ${what} by the ${kind} layer driver (runtime.disk.driver); leave diskMb at defaults.diskMb (not enforced), or use the btrfs driver, whose qgroups enforce it`,
  )
}

async function rmEmptyDir(p: string): Promise<void> {
  try {
    if ((await lstat(p)).isDirectory() && (await readdir(p)).length === 0) await rm(p, { recursive: true })
  } catch {
    // absent
  }
}

function asRuntimeError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err
  if (err instanceof PoolFullError) return new RuntimeError('conflict', `could not ${what}: disk_full: ${err.message}; delete sandboxes or snapshots to free space`, { cause: err })
  return new RuntimeError('internal', `could not ${what}: ${messageOf(err)}`, { cause: err })
}
