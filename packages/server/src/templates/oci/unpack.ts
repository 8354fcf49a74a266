/**
 * @module templates/oci/unpack — stored layers, in order, into `<storeDir>/rootfs/<manifest hex>`:
 * built under tmp/ and renamed into place only when complete, so a crash never leaves a half rootfs
 * under the final name (and the next import sweeps the leftover).
 */
import { lchown, chmod, mkdir, rename, rm } from 'node:fs/promises'
import { pipeline, type Readable } from 'node:stream'
import * as zlib from 'node:zlib'
import type { Logger } from '../../core/log.js'
import type { BlobStore } from './blob-store.js'
import { applyLayer } from './layer-writer.js'
import type { Descriptor } from './manifest.js'
import { OciError } from './oci-error.js'

export interface UnpackOptions {
  uidBase: number
  log: Logger
  signal?: AbortSignal
  /** Paths under tmp/ in use by this process (so a concurrent sweep leaves them alone). */
  active: Set<string>
  onLayer?: (done: number, total: number, digest: string) => void
}

/** Decompressed tar bytes of a stored layer blob. */
export function openLayer(store: BlobStore, layer: Descriptor, what: string): Readable {
  // Decompressor first: an unsupported one throws before a file is opened (and leaked).
  const decompress = decompressorFor(layer.mediaType, what)
  const raw = store.open(layer.digest)
  if (!decompress) return raw
  // pipeline() (not pipe()) so a read error of the blob reaches the reader of the decompressed side.
  return pipeline(raw, decompress, () => {}) as unknown as Readable
}

function decompressorFor(mediaType: string, what: string): NodeJS.ReadWriteStream | undefined {
  if (mediaType.endsWith('+zstd')) {
    // zlib gained zstd in Node 22.15 / 23.8; on older Nodes say so instead of failing obscurely.
    const make = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress
    if (typeof make !== 'function') {
      throw new OciError('unsupported', `${what} is zstd-compressed, which needs Node >= 22.15 (this is ${process.version}); use a gzip image or a newer Node`)
    }
    return make()
  }
  if (mediaType.endsWith('gzip')) return zlib.createGunzip()
  return undefined
}

export async function unpackLayers(store: BlobStore, manifestDigest: string, layers: Descriptor[], o: UnpackOptions): Promise<string> {
  const final = store.rootfsPath(manifestDigest)
  const tmp = store.tmpName('rootfs')
  o.active.add(tmp)
  try {
    await mkdir(tmp, { mode: 0o700 })
    await lchown(tmp, o.uidBase, o.uidBase)
    await chmod(tmp, 0o755)
    for (const [i, layer] of layers.entries()) {
      o.onLayer?.(i, layers.length, layer.digest)
      const what = `layer ${i + 1}/${layers.length} (${layer.digest})`
      await applyLayer(tmp, openLayer(store, layer, what), { uidBase: o.uidBase, log: o.log, what, ...(o.signal ? { signal: o.signal } : {}) })
    }
    o.onLayer?.(layers.length, layers.length, manifestDigest)
    try {
      await rename(tmp, final)
    } catch (err) {
      // Another import of the same image finished first: its rootfs is the same content.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      await rm(tmp, { recursive: true, force: true })
    }
    return final
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  } finally {
    o.active.delete(tmp)
  }
}
