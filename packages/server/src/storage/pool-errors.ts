/** @module storage/pool-errors — failures a storage pool reports in a way callers can act on. */
import type { PoolSpace } from './pool.js'

/** The pool has no space left for an operation. */
export class PoolFullError extends Error {
  constructor(
    readonly root: string,
    readonly space: PoolSpace | undefined,
    cause?: unknown,
  ) {
    super(`storage pool ${root} is full${space ? ` (${mb(space.freeBytes)} MB free of ${mb(space.totalBytes)} MB)` : ''}`, { cause })
    this.name = 'PoolFullError'
  }
}

/** The pool cannot be set up as configured (e.g. reflink asked for, but no reflink filesystem and no way to make one). */
export class PoolUnavailableError extends Error {
  override name = 'PoolUnavailableError'
}

export const mb = (bytes: number) => Math.round(bytes / 1_048_576)
