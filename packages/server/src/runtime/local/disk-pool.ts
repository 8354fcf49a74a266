/**
 * @module runtime/local/disk-pool — the btrfs loop image that holds every sandbox's writable layer,
 * each sandbox in a subvolume of its own whose qgroup limit is its resources.diskMb.
 *
 * Why btrfs: a per-sandbox limit must cost a create ~nothing. XFS project quotas or ext4 project
 * quotas would do it too (Docker's overlay2 `size=`), but both need the kernel's quota support
 * (CONFIG_XFS_QUOTA / CONFIG_QUOTA), which many kernels (this project's CI host among them) lack;
 * btrfs qgroups are part of btrfs itself. A subvolume and its limit are two ioctls in the helper's
 * create (no extra process); a destroy removes the subvolume and the kernel drops its qgroup once its
 * cleaner has freed the extents. The image is sparse and mounted with discard, so what sandboxes
 * delete goes back to the host, and its size bounds what all sandboxes together can take.
 *
 * Snapshots (local-snapshots.ts) are read-only snapshots of those subvolumes in `.snapshots/` of the
 * pool, and a sandbox started from one is a writable snapshot of it. Under simple quotas (Linux 6.7+)
 * each extent is charged to the subvolume that wrote it, so such a sandbox's diskMb bounds what it
 * writes itself; the data it shares with the snapshot stays charged to its first writer.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, openSync, closeSync, ftruncateSync, readdirSync, realpathSync, rmSync, rmdirSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import type { PreflightCheck } from '../runtime.js'
import { readText } from './host-files.js'
import { RuntimeError, messageOf } from './runtime-error.js'

const sbin = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
/** Every tool runs with this environment alone (never the control plane's). */
const toolEnv = { PATH: sbin.join(':'), LC_ALL: 'C' }
const MiB = 1_048_576

export interface DiskPoolOptions {
  /** The runtime's data dir: the pool is mounted at `<dataDir>/sandboxes`. */
  dataDir: string
  instance: string
  /** Size of the (sparse) image: what every sandbox together may write. */
  sizeMb: number
  helperPath: string
}

/** Where a sandbox's disk usage stands (bytes its subvolume references, and its limit). */
export interface DiskUsage {
  bytes: number
  limitBytes: number
}

export class DiskPool {
  readonly mountPoint: string
  readonly image: string
  readonly #label: string
  readonly #o: DiskPoolOptions
  #ready: Promise<void> | undefined
  /** /sys/fs/btrfs/<fsid>: where the kernel reports each qgroup's usage. */
  #sysfs: string | undefined

  constructor(o: DiskPoolOptions) {
    this.#o = o
    this.mountPoint = join(o.dataDir, 'sandboxes')
    // The instance id is in the image's name and the filesystem's label: what we unmount is ours.
    this.image = join(o.dataDir, `sandboxes-${o.instance}.img`)
    this.#label = `tp${o.instance}`
  }

  /** Whether per-sandbox disk limits can be enforced here, and what to install when not. */
  preflight(): PreflightCheck {
    const name = 'disk limits'
    const btrfs = /\tbtrfs$/m.test(readText('/proc/filesystems') ?? '')
    const mkfs = onPath('mkfs.btrfs')
    const losetup = onPath('losetup')
    if (!btrfs)
      return {
        name,
        ok: false,
        detail: 'the kernel has no btrfs (not in /proc/filesystems): sandbox writable layers cannot be size-limited',
        fix: 'modprobe btrfs (use a kernel built with CONFIG_BTRFS_FS)',
      }
    if (!mkfs || !losetup)
      return {
        name,
        ok: false,
        detail: `${!mkfs ? 'mkfs.btrfs' : 'losetup'} is not installed: the disk pool for sandbox writable layers cannot be made`,
        fix: !mkfs ? 'apt-get install btrfs-progs (dnf install btrfs-progs)' : 'apt-get install mount (util-linux)',
      }
    let free = ''
    try {
      const s = statfsSync(this.#o.dataDir)
      const freeMb = Math.floor((Number(s.bavail) * Number(s.bsize)) / MiB)
      free = freeMb < this.#o.sizeMb ? `; note: the host has only ${freeMb} MiB free, less than the pool's ${this.#o.sizeMb} MiB (runtime.disk.poolMb)` : ''
    } catch {
      // data dir not made yet
    }
    return { name, ok: true, detail: `each sandbox's writable layer is a btrfs subvolume with a qgroup limit, in a ${this.#o.sizeMb} MiB sparse pool at ${this.mountPoint}${free}` }
  }

  /** Mounts the pool, making its image first when there is none (once per runtime; later calls share it). */
  ensure(): Promise<void> {
    this.#ready ??= this.#mount().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  /** Mounts an existing image only (e.g. after a reboot, so leftovers in it can be listed and removed). */
  async adopt(): Promise<void> {
    if (this.#ready) return this.#ready
    if (!existsSync(this.image) && !this.#ownMount()) return
    await this.ensure()
  }

  /** Bytes the sandbox's subvolume holds and its limit, from the kernel's qgroup counters. */
  usage(sandboxDir: string): DiskUsage | undefined {
    const [id, limit] = (readText(join(sandboxDir, 'disk')) ?? '').trim().split(' ').map(Number)
    if (!id || limit === undefined) return undefined
    return { bytes: this.qgroupBytes(id, 'referenced') ?? 0, limitBytes: limit }
  }

  /** The subvolume id of a sandbox's layer (from its `disk` record), or undefined. */
  subvolumeOf(sandboxDir: string): number | undefined {
    const id = Number((readText(join(sandboxDir, 'disk')) ?? '').trim().split(' ')[0])
    return Number.isInteger(id) && id > 0 ? id : undefined
  }

  /**
   * A subvolume's qgroup counter (0/<id>) as the kernel last committed it: sysfs shows the numbers of
   * the last transaction commit, so writes of the last few seconds may not be in them yet.
   */
  qgroupBytes(subvolumeId: number, counter: 'referenced' | 'exclusive'): number | undefined {
    const sysfs = this.#sysfs ?? this.#findSysfs()
    const bytes = Number(readText(join(sysfs ?? '/nonexistent', 'qgroups', `0_${subvolumeId}`, counter))?.trim())
    return Number.isFinite(bytes) ? bytes : undefined
  }

  /** How the pool's kernel counts: 'simple' quotas (Linux 6.7+; each extent charged to the subvolume that wrote it) or 'full' qgroups. */
  quotaMode(): 'simple' | 'full' | undefined {
    const mode = readText(join(this.#sysfs ?? this.#findSysfs() ?? '/nonexistent', 'qgroups', 'mode'))?.trim()
    return mode === 'squota' ? 'simple' : mode === 'qgroup' ? 'full' : undefined
  }

  /** Sets a live sandbox's limit (the helper's disk-limit), refusing one below what it holds now. */
  async setLimit(id: string, sandboxDir: string, bytes: number): Promise<void> {
    const u = this.usage(sandboxDir)
    if (u && bytes < u.bytes) {
      throw new RuntimeError(
        'invalid_request',
        `resources.diskMb ${Math.round(bytes / MiB)} is below what sandbox ${id} holds now (${Math.ceil(u.bytes / MiB)} MiB); delete files inside it or choose a higher limit`,
      )
    }
    await run(this.#o.helperPath, ['disk-limit', '--path', sandboxDir, '--bytes', String(bytes)], `set the disk limit of sandbox ${id}`)
  }

  /**
   * Unmounts the pool and deletes its image when no sandbox is left in it (tests, uninstall): only a
   * mount of this instance's own image is ever touched.
   */
  async release(): Promise<void> {
    const dev = this.#ownMount()
    if (dev) {
      try {
        rmdirSync(join(this.mountPoint, '.snapshots')) // the snapshots' directory, when none is left in it
      } catch {
        // absent, or snapshots in it: they keep the pool (the check below)
      }
      if (readdirSync(this.mountPoint).length > 0) return // sandboxes, snapshots (or their leftovers) still there
      await run('umount', [this.mountPoint], `unmount the disk pool ${this.mountPoint}`)
    }
    this.#ready = undefined
    this.#sysfs = undefined
    if (this.#foreignMount()) return
    rmSync(this.image, { force: true })
    try {
      rmdirSync(this.mountPoint)
    } catch {
      // absent, or not empty (not ours to empty)
    }
  }

  async #mount(): Promise<void> {
    if (this.#ownMount()) return this.#afterMount()
    if (this.#foreignMount()) {
      throw new RuntimeError('runtime_unavailable', `${this.mountPoint} is a mount point, but not of this runtime's disk pool (${this.image}); unmount it, or give this tidepool its own home`)
    }
    const check = this.preflight()
    if (!check.ok) throw new RuntimeError('runtime_unavailable', `sandbox disk limits are not available: ${check.detail} (fix: ${check.fix})`)
    mkdirSync(this.mountPoint, { recursive: true, mode: 0o700 })
    if (readdirSync(this.mountPoint).length > 0) {
      throw new RuntimeError(
        'runtime_unavailable',
        `${this.mountPoint} holds files but is not the disk pool (sandboxes of an older tidepool?); destroy them (or move the directory away) and start again`,
      )
    }
    if (!existsSync(this.image)) {
      const fd = openSync(this.image, 'wx', 0o600)
      try {
        ftruncateSync(fd, this.#o.sizeMb * MiB)
      } finally {
        closeSync(fd)
      }
      try {
        // single profiles: one scratch device, nothing to mirror; -K: a sparse file needs no discard.
        await run('mkfs.btrfs', ['-q', '-K', '-m', 'single', '-d', 'single', '-L', this.#label, this.image], 'make the disk pool')
      } catch (err) {
        rmSync(this.image, { force: true })
        throw err
      }
    }
    await run('mount', ['-t', 'btrfs', '-o', 'loop,nosuid,nodev,noatime,discard=async', this.image, this.mountPoint], `mount the disk pool ${this.image}`)
    return this.#afterMount()
  }

  async #afterMount(): Promise<void> {
    // Idempotent: turns quotas on in a fresh pool, and is a no-op in one that has them.
    await run(this.#o.helperPath, ['disk-pool', '--path', this.mountPoint], 'turn quotas on in the disk pool')
    this.#sysfs = this.#findSysfs()
    if (this.#sysfs && !existsSync(join(this.#sysfs, 'qgroups'))) {
      throw new RuntimeError('runtime_unavailable', `quotas are off in the disk pool ${this.mountPoint} (no ${this.#sysfs}/qgroups); unmount it and remove ${this.image} when no sandbox runs`)
    }
  }

  /** The loop device of the mount at mountPoint when it is this instance's image, else undefined. */
  #ownMount(): string | undefined {
    const m = this.#mountAt()
    if (!m || m.fstype !== 'btrfs') return undefined
    const loop = /^\/dev\/(loop\d+)$/.exec(m.source)?.[1]
    if (!loop) return undefined
    const backing = readText(`/sys/block/${loop}/loop/backing_file`)?.trim()
    return backing !== undefined && existsSync(this.image) && backing === realpathSync(this.image) ? loop : undefined
  }

  #foreignMount(): boolean {
    return this.#mountAt() !== undefined && this.#ownMount() === undefined
  }

  #mountAt(): { fstype: string; source: string } | undefined {
    for (const line of (readText('/proc/self/mountinfo') ?? '').split('\n')) {
      const [left, right] = line.split(' - ')
      if (!left || !right) continue
      if (unescape(left.split(' ')[4] ?? '') !== this.mountPoint) continue
      const [fstype = '', source = ''] = right.split(' ')
      return { fstype, source: unescape(source) }
    }
    return undefined
  }

  #findSysfs(): string | undefined {
    const loop = this.#ownMount()
    if (!loop) return undefined
    try {
      for (const fsid of readdirSync('/sys/fs/btrfs')) {
        if (existsSync(join('/sys/fs/btrfs', fsid, 'devices', loop))) return (this.#sysfs = join('/sys/fs/btrfs', fsid))
      }
    } catch {
      // no btrfs mounted
    }
    return undefined
  }
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: toolEnv, timeout: 60_000, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolve()
      reject(new RuntimeError(err.code === 'ENOENT' ? 'runtime_unavailable' : 'internal', `could not ${what}: ${String(stderr).trim() || messageOf(err)}`, { cause: err }))
    })
  })
}

function onPath(tool: string): boolean {
  return sbin.some((d) => existsSync(join(d, tool)))
}

/** mountinfo's octal escapes (\040 for a space…). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
}
