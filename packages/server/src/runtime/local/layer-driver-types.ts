/**
 * @module runtime/local/layer-driver-types — where sandboxes' writable layers and snapshots live, behind one
 * small interface: `btrfs` (a subvolume per layer, snapshots O(1), diskMb by qgroups), `reflink` (plain
 * dirs on a reflink filesystem, every file cloned: O(files), no byte copied) and `copy` (cp -a: O(bytes),
 * portable). runtime.disk.driver picks one; `auto` takes btrfs when the host has it, else reflink or copy
 * with a warning. Layers live in `<dataDir>/sandboxes/<id>`, snapshots in `<dataDir>/sandboxes/.snapshots/<id>`.
 */
import type { PreflightCheck } from '../runtime.js'
import type { CreateArgs } from './helper-args.js'
import type { MountPlan } from './mounts.js'
import type { RuntimeLogger } from './runtime-logger.js'

export type LayerDriverKind = 'btrfs' | 'reflink' | 'copy'
export type LayerDriverChoice = 'auto' | LayerDriverKind

/** A layer's real disk usage: allocated bytes (not apparent sizes), and its limit when the driver has one. */
export interface LayerUsage {
  /** Bytes the layer references (shared extents counted in full). */
  bytes: number
  /** Bytes only this layer holds (what deleting it frees); equals bytes where that cannot be told. */
  exclusiveBytes: number
  /** The kernel-enforced limit (btrfs qgroup); undefined on a driver that enforces none. */
  limitBytes?: number
}

export interface LayerDriver {
  /** The driver in use (for `auto`, what the probe chose; known once ensure() or adopt() resolved). */
  readonly kind: LayerDriverKind
  /** Whether resources.diskMb is enforced by the kernel (a write past it fails with EDQUOT/ENOSPC inside). */
  readonly enforcesDiskMb: boolean
  preflight(): PreflightCheck
  /** Makes and mounts the pool where needed (once; later calls share it). */
  ensure(): Promise<void>
  /** Mounts an existing pool only (after a reboot, so leftovers in it can be listed and removed). */
  adopt(): Promise<void>
  /**
   * Readies a new sandbox's layer at `dir` (empty, or a writable copy of snapshot dir `from`). Returns the
   * helper's `disk` arguments when the helper makes the layer itself (btrfs), else undefined once the
   * layer's dirs exist.
   */
  prepare(dir: string, bytes: number, plan: MountPlan, uidBase: number, from?: string): Promise<CreateArgs['disk'] | undefined>
  /**
   * Captures the (frozen) sandbox layer `source` at `dest` (which must not exist); resolves with the
   * snapshot's subvolume id (0: none) and the bytes to record (0: snapshotUsage measures them). Leaves no
   * `dest` behind on failure.
   */
  capture(source: string, dest: string, what: string): Promise<{ subvolume: number; bytes: number }>
  /** Removes a layer or snapshot whatever it holds; a missing one is fine. */
  remove(path: string, what: string): Promise<void>
  /** A live sandbox's layer usage, or undefined when it has no layer. */
  usage(sandboxDir: string): Promise<LayerUsage | undefined>
  /** A snapshot's usage: `subvolume` and `recorded` come from its record (what capture saw). */
  snapshotUsage(dir: string, subvolume: number, recorded: number): Promise<{ bytes: number; exclusiveBytes: number }>
  /** Sets a live sandbox's diskMb (bytes); `invalid_request` where the driver enforces none. */
  setLimit(id: string, sandboxDir: string, bytes: number): Promise<void>
  /** Size and free space of the pool that holds every layer (statfs), or undefined when it is not mounted. */
  space(): Promise<{ totalBytes: number; freeBytes: number } | undefined>
  /** Unmounts the pool and removes it when no layer is left in it. */
  release(): Promise<void>
}

export interface LayerDriverOptions {
  choice: LayerDriverChoice
  dataDir: string
  instance: string
  /** Size of the sparse pool image (btrfs, or XFS for reflink on a filesystem that cannot clone). */
  sizeMb: number
  helperPath: string
  log: RuntimeLogger
}
