/**
 * @module templates/oci — an OCI image (layout dir, `docker save`/OCI tarball, or registry pull) as a
 * rootfs directory the local runtime can use as `TemplateSpec.rootfs`, content-addressed by manifest digest.
 */
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { silentLogger, type Logger } from '../../core/log.js'
import { archiveSource } from './archive-source.js'
import { BlobStore } from './blob-store.js'
import { digestHex } from './digest.js'
import { readVerified, type ImageSource } from './image-source.js'
import { layoutSource } from './layout-source.js'
import { parseConfig, type ImageConfig } from './manifest.js'
import { registrySource, type RegistryAuth } from './registry-source.js'
import { unpackLayers } from './unpack.js'

export { OciError, type OciFailure } from './oci-error.js'

export type OciSource =
  { kind: 'layout'; path: string; ref?: string } | { kind: 'archive'; path: string; ref?: string } | { kind: 'registry'; image: string; auth?: RegistryAuth; insecureHttp?: boolean }

export interface OciImage {
  /** sha256:… of the manifest chosen (for this host's linux architecture when an index). */
  digest: string
  layers: { digest: string; size: number; mediaType: string }[]
  config: ImageConfig
  /** Unpacked rootfs (read-only to tidepool after this), content-addressed by manifest digest. */
  rootfs: string
  /** True when the rootfs was already on disk (no download, no unpack). */
  cached: boolean
}

export interface ImportOptions {
  storeDir: string
  uidBase: number
  log?: Logger
  signal?: AbortSignal
  onProgress?: (p: { phase: 'resolve' | 'fetch' | 'verify' | 'unpack'; done: number; total: number; detail?: string }) => void
}

/** tmp/ paths in use by imports of this process: the stale sweep leaves them alone. */
const active = new Set<string>()

export async function importImage(src: OciSource, o: ImportOptions): Promise<OciImage> {
  const store = new BlobStore(o.storeDir)
  await store.init()
  await store.sweepStale(active)
  const progress = o.onProgress ?? (() => {})
  progress({ phase: 'resolve', done: 0, total: 1, detail: describe(src) })
  const source = await open(src, store, o)
  try {
    const { digest, manifest } = await source.resolve()
    progress({ phase: 'resolve', done: 1, total: 1, detail: digest })
    const layers = manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }))
    const rootfs = store.rootfsPath(digest)
    const record = await readRecord(store, digest)
    if (record && (await stat(rootfs).catch(() => undefined))?.isDirectory()) return { ...record, rootfs, cached: true }

    const configBytes = await readVerified(await source.openBlob(manifest.config), manifest.config, `config ${manifest.config.digest}`)
    const config = parseConfig(configBytes, `config ${manifest.config.digest}`)
    const total = manifest.layers.length
    for (const [i, l] of manifest.layers.entries()) {
      o.signal?.throwIfAborted()
      progress({ phase: 'fetch', done: i, total, detail: l.digest })
      if (!(await store.has(l))) await store.put(l, await source.openBlob(l), `layer ${l.digest}`)
      progress({ phase: 'verify', done: i + 1, total, detail: l.digest })
    }
    if (!(await stat(rootfs).catch(() => undefined))?.isDirectory()) {
      await unpackLayers(store, digest, manifest.layers, {
        uidBase: o.uidBase,
        log: o.log ?? silentLogger,
        active,
        ...(o.signal ? { signal: o.signal } : {}),
        onLayer: (done, t, d) => progress({ phase: 'unpack', done, total: t, detail: d }),
      })
    }
    const image: OciImage = { digest, layers, config, rootfs, cached: false }
    await writeRecord(store, image)
    return image
  } finally {
    await source.close()
  }
}

/** Removes an imported image's rootfs and record, and its blobs no other imported image uses. Idempotent. */
export async function removeImage(storeDir: string, digest: string): Promise<void> {
  const store = new BlobStore(storeDir)
  digestHex(digest, 'removeImage')
  const record = await readRecord(store, digest)
  await rm(store.rootfsPath(digest), { recursive: true, force: true })
  await rm(store.recordPath(digest), { force: true })
  if (!record) return
  const inUse = new Set<string>()
  for (const name of await readdir(store.imagesDir).catch(() => [] as string[])) {
    const other = await readRecord(store, `sha256:${name.slice(0, -'.json'.length)}`).catch(() => undefined)
    for (const l of other?.layers ?? []) inUse.add(l.digest)
  }
  // Config blobs are read, never stored; only layer blobs are kept.
  for (const d of record.layers.map((l) => l.digest)) {
    if (!inUse.has(d)) await rm(store.blobPath(d), { force: true })
  }
}

function describe(src: OciSource): string {
  return src.kind === 'registry' ? src.image : src.path
}

async function open(src: OciSource, store: BlobStore, o: ImportOptions): Promise<ImageSource> {
  if (src.kind === 'layout') return layoutSource(src.path, src.ref)
  if (src.kind === 'archive') return archiveSource(src.path, src.ref, store, active)
  return registrySource(src.image, { ...(src.auth ? { auth: src.auth } : {}), ...(src.insecureHttp ? { insecureHttp: true } : {}), ...(o.signal ? { signal: o.signal } : {}) })
}

type ImageRecord = Omit<OciImage, 'rootfs' | 'cached'>

async function readRecord(store: BlobStore, digest: string): Promise<ImageRecord | undefined> {
  const text = await readFile(store.recordPath(digest), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as ImageRecord
  } catch {
    return undefined
  }
}

async function writeRecord(store: BlobStore, image: OciImage): Promise<void> {
  const tmp = store.tmpName('record')
  const { rootfs: _r, cached: _c, ...record } = image
  await writeFile(tmp, JSON.stringify(record), { mode: 0o600 })
  await rename(tmp, store.recordPath(image.digest))
}
