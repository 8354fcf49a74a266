import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import * as zlibModule from 'node:zlib'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { BlobStore } from './blob-store.js'
import { openLayer } from './unpack.js'

let dir: string
let store: BlobStore
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-blobs-'))
  store = new BlobStore(dir)
  await store.init()
})
afterEach(() => rm(dir, { recursive: true, force: true }))

const body = Buffer.from('layer bytes')
const desc = { digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length }
const leftovers = async () => [...(await readdir(store.blobsDir)), ...(await readdir(store.tmpDir))]

it('keeps a blob whose bytes match its descriptor', async () => {
  await store.put(desc, Readable.from([body]), 'blob')
  expect(await store.has(desc)).toBe(true)
  expect(await store.read(desc.digest)).toEqual(body)
})

it('refuses, and keeps nothing of, a tampered, a truncated or an oversized blob', async () => {
  const tampered = Buffer.from(body)
  tampered[0] = tampered[0]! ^ 1
  await expect(store.put(desc, Readable.from([tampered]), 'blob')).rejects.toMatchObject({ reason: 'digest_mismatch' })
  await expect(store.put(desc, Readable.from([body.subarray(0, 4)]), 'blob')).rejects.toMatchObject({ reason: 'size_mismatch' })
  // Refused mid-stream: the source is never read to its end.
  let pulled = 0
  const endless = new Readable({
    read() {
      pulled++
      this.push(Buffer.alloc(1024))
    },
  })
  await expect(store.put(desc, endless, 'blob')).rejects.toThrow(/larger than its descriptor/)
  // What the stream buffers ahead (its highWaterMark: 16 KiB on Node 20, 64 KiB from Node 22) and little more.
  expect(pulled).toBeLessThan((2 * endless.readableHighWaterMark) / 1024 + 8)
  expect(await leftovers()).toEqual([])
  expect(await store.has(desc)).toBe(false)
})

it('a zstd layer needs zlib zstd (Node >= 22.15) and says so', () => {
  const hasZstd = typeof (zlibModule as { createZstdDecompress?: unknown }).createZstdDecompress === 'function'
  const open = () => openLayer(store, { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: desc.digest, size: 1 }, 'layer 1')
  if (hasZstd) expect(open).not.toThrow()
  else expect(open).toThrow(/Node >= 22.15/)
})
