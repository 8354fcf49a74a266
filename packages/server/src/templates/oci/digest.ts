/** @module templates/oci/digest — `sha256:<hex>` digests: checked by hand (no regex), hashed while streaming. */
import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { OciError } from './oci-error.js'

const hexLength = 64

function isLowerHex(s: string): boolean {
  if (s.length !== hexLength) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
  }
  return true
}

/** True for `sha256:` + 64 lowercase hex digits: the only algorithm we accept (sha512 images are rare). */
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && s.startsWith('sha256:') && isLowerHex(s.slice(7))
}

/** The hex part of a checked digest; OciError('bad_image') otherwise, naming where it came from. */
export function digestHex(digest: unknown, where: string): string {
  if (!isDigest(digest)) {
    const shown = typeof digest === 'string' ? JSON.stringify(digest.slice(0, 80)) : typeof digest
    throw new OciError('bad_image', `${where}: digest must be sha256:<64 lowercase hex> (got ${shown})`)
  }
  return digest.slice(7)
}

export function sha256Of(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/**
 * A pass-through that hashes and counts bytes, refuses to pass more than `maxBytes` (mid-stream, so a
 * lying server cannot fill the disk), and at the end checks the size and digest it was promised.
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash = createHash('sha256')
  #bytes = 0

  constructor(private readonly expect: { digest: string; size: number; what: string }) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length
    if (this.#bytes > this.expect.size) {
      done(new OciError('size_mismatch', `${this.expect.what} is larger than its descriptor's ${this.expect.size} bytes; refused`, { digest: this.expect.digest }))
      return
    }
    this.#hash.update(chunk)
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    if (this.#bytes !== this.expect.size) {
      done(new OciError('size_mismatch', `${this.expect.what} ended after ${this.#bytes} of ${this.expect.size} bytes (truncated)`, { digest: this.expect.digest }))
      return
    }
    const got = `sha256:${this.#hash.digest('hex')}`
    if (got !== this.expect.digest) {
      done(new OciError('digest_mismatch', `${this.expect.what} does not match its digest: expected ${this.expect.digest}, got ${got}`, { expected: this.expect.digest, got }))
      return
    }
    done()
  }
}
