/** @module sandboxes/transfer-slots — at most N file transfers (reads and writes) at once per token. */
import type { Principal } from '@tidepool/sdk'
import { quotaExceeded } from '../core/errors.js'

/**
 * Streaming keeps each transfer's memory small, but every transfer still holds a command, a pipe and a
 * connection for as long as the client takes; one token must not be able to hold them all.
 */
export class TransferSlots {
  readonly #used = new Map<string, number>()

  constructor(readonly limit: number) {}

  /** Takes a slot or throws quota_exceeded; the returned function gives it back (idempotent). */
  acquire(p: Pick<Principal, 'tokenId'>): () => void {
    const used = this.#used.get(p.tokenId) ?? 0
    if (used >= this.limit) {
      throw quotaExceeded(
        `token ${p.tokenId} already has ${used} file transfers running, its limit (files.maxConcurrentTransfers); wait for one to finish and retry, or transfer fewer files at once`,
        { scope: `token:${p.tokenId}:file_transfers`, limit: this.limit, used, retryAfter: 1 },
      )
    }
    this.#used.set(p.tokenId, used + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.#used.get(p.tokenId) ?? 1) - 1
      if (n > 0) this.#used.set(p.tokenId, n)
      else this.#used.delete(p.tokenId)
    }
  }

  /** Transfers running for a token (tests, stats). */
  used(tokenId: string): number {
    return this.#used.get(tokenId) ?? 0
  }
}
