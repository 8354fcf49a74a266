/** @module storage/pool — the StoragePool seam: where clones, snapshots and layers live, and how they are copied. */
export type PoolKind = 'reflink' | 'copy'

export interface PoolUsage {
  /** Bytes allocated to the tree, counting shared extents in full (what `du` says). */
  bytes: number
  /** Bytes only this tree holds: extents not shared with any other copy (equals `bytes` on a copy pool). */
  exclusiveBytes: number
}

export interface PoolSpace {
  totalBytes: number
  freeBytes: number
}

/** What tidepool needs from a place that holds data directories and copies them. Nothing more. */
export interface StoragePool {
  /** `reflink`: clone() is O(metadata), independent of data size. `copy`: clone() copies every byte. */
  readonly kind: PoolKind
  /** Absolute directory every path handed to the pool lives under. */
  readonly root: string
  /** `dir`: the directory's own filesystem; `image`: a loop-mounted XFS image tidepool created and mounts. */
  readonly backing: 'dir' | 'image'
  /**
   * Copies the file or directory tree `src` to `dst` (which must not exist), preserving owners, modes and
   * links. On a reflink pool every file is cloned (shares extents until written). Leaves no partial `dst`
   * behind on failure; throws PoolFullError when the pool runs out of space.
   */
  clone(src: string, dst: string): Promise<void>
  /** Removes a tree (idempotent). */
  remove(path: string): Promise<void>
  /** Real disk usage of a tree. */
  usage(path: string): Promise<PoolUsage>
  space(): Promise<PoolSpace>
  /** Releases the pool: unmounts the image if tidepool mounted it. Anything still open inside makes this fail. */
  close(): Promise<void>
}
