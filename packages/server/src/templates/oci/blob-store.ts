/**
 * @module templates/oci/blob-store — the on-disk store of OCI imports:
 *   <storeDir>/blobs/sha256/<hex>   verified blobs (written to tmp/ while streaming, renamed in only once verified)
 *   <storeDir>/rootfs/<hex>         unpacked rootfs per manifest digest (renamed in only once complete)
 *   <storeDir>/images/<hex>.json    the OciImage record of an imported manifest
 *   <storeDir>/tmp/<pid>.<random>*  work in progress; swept when its process is gone
 */
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { digestHex, VerifyingStream } from './digest.js'

export class BlobStore {
  readonly blobsDir: string
  readonly rootfsDir: string
  readonly imagesDir: string
  readonly tmpDir: string

  constructor(readonly storeDir: string) {
    this.blobsDir = join(storeDir, 'blobs', 'sha256')
    this.rootfsDir = join(storeDir, 'rootfs')
    this.imagesDir = join(storeDir, 'images')
    this.tmpDir = join(storeDir, 'tmp')
  }

  async init(): Promise<void> {
    for (const d of [this.blobsDir, this.rootfsDir, this.imagesDir, this.tmpDir]) await mkdir(d, { recursive: true, mode: 0o700 })
  }

  blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(digest, 'blob'))
  }

  rootfsPath(manifestDigest: string): string {
    return join(this.rootfsDir, digestHex(manifestDigest, 'manifest'))
  }

  recordPath(manifestDigest: string): string {
    return join(this.imagesDir, `${digestHex(manifestDigest, 'manifest')}.json`)
  }

  /** A fresh name under tmp/ that carries our pid, so a later import can tell whether its owner still runs. */
  tmpName(suffix: string): string {
    return join(this.tmpDir, `${process.pid}.${randomBytes(6).toString('hex')}.${suffix}`)
  }

  /** True when the blob is stored with its descriptor's size (a stored blob was verified on the way in). */
  async has(desc: { digest: string; size: number }): Promise<boolean> {
    const st = await stat(this.blobPath(desc.digest)).catch(() => undefined)
    return st !== undefined && st.isFile() && st.size === desc.size
  }

  /**
   * Streams `source` into the store, verifying size and digest as it goes. On any failure the partial
   * file is removed and the error (OciError size_mismatch / digest_mismatch, or the source's) thrown.
   */
  async put(desc: { digest: string; size: number }, source: Readable, what: string): Promise<void> {
    const final = this.blobPath(desc.digest)
    const tmp = this.tmpName('blob')
    try {
      await pipeline(source, new VerifyingStream({ digest: desc.digest, size: desc.size, what }), createWriteStream(tmp, { mode: 0o600, flags: 'wx' }))
      await rename(tmp, final)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
  }

  open(digest: string): Readable {
    return createReadStream(this.blobPath(digest))
  }

  async read(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest))
  }

  /** Removes tmp/ entries whose owning process is gone (a crash mid-import), and our own that `keep` does not hold. */
  async sweepStale(keep: ReadonlySet<string>): Promise<void> {
    const names = await readdir(this.tmpDir).catch(() => [] as string[])
    for (const name of names) {
      const pid = Number(name.slice(0, name.indexOf('.')))
      const path = join(this.tmpDir, name)
      const mine = pid === process.pid
      if ((mine && !keep.has(path)) || (!mine && !processAlive(pid))) await rm(path, { recursive: true, force: true })
    }
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
