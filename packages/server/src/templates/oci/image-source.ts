/** @module templates/oci/image-source — the seam every kind of source (layout, archive, registry) fills. */
import type { Readable } from 'node:stream'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { VerifyingStream } from './digest.js'
import { maxJsonBytes, parseManifestOrIndex, pickPlatform, type Descriptor, type Manifest } from './manifest.js'
import { OciError } from './oci-error.js'

export interface ImageSource {
  /** One manifest, verified against its digest (an index narrowed to this host's linux platform). */
  resolve(): Promise<{ digest: string; manifest: Manifest }>
  /** The bytes of a blob, unverified: the blob store verifies them while storing. */
  openBlob(d: Descriptor): Promise<Readable>
  /** Frees what the source holds (an archive's extracted copy). */
  close(): Promise<void>
}

/** Reads a small blob (manifest, index, config) whole, verified against its descriptor. */
export async function readVerified(stream: Readable, d: Descriptor, what: string): Promise<Buffer> {
  if (d.size > maxJsonBytes) throw new OciError('bad_image', `${what} is ${d.size} bytes; at most ${maxJsonBytes} accepted`)
  const chunks: Buffer[] = []
  const sink = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) })
  await pipeline(stream, new VerifyingStream({ digest: d.digest, size: d.size, what }), sink)
  return Buffer.concat(chunks)
}

/** Follows index → manifest (at most 3 levels: an index of indexes is allowed, a cycle is not). */
export async function narrowToManifest(start: Descriptor, read: (d: Descriptor) => Promise<{ bytes: Buffer; mediaType?: string }>, what: string): Promise<{ digest: string; manifest: Manifest }> {
  let desc = start
  for (let depth = 0; depth < 3; depth++) {
    const { bytes, mediaType } = await read(desc)
    const parsed = parseManifestOrIndex(bytes, mediaType ?? desc.mediaType, `${what} ${desc.digest}`)
    if (parsed.kind === 'manifest') return { digest: desc.digest, manifest: parsed.manifest }
    desc = pickPlatform(parsed.index, `${what} index ${desc.digest}`)
  }
  throw new OciError('bad_image', `${what}: indexes nested more than 3 deep`)
}
