/**
 * @module templates/oci/layout-source — an image from a directory: an OCI image layout (oci-layout +
 * index.json + blobs/sha256), or what `docker save` writes (manifest.json; Docker ≥ 25 writes an OCI
 * layout beside it, which is preferred so the digest is the registry's).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { z } from 'zod'
import { digestHex, sha256Of } from './digest.js'
import { narrowToManifest, readVerified, type ImageSource } from './image-source.js'
import { archivePath } from './layer-paths.js'
import { maxJsonBytes, mediaTypes, parseManifestOrIndex, type Descriptor, type Manifest } from './manifest.js'
import { OciError } from './oci-error.js'

const refAnnotation = 'org.opencontainers.image.ref.name'

async function readSmallFile(path: string, what: string): Promise<Buffer | undefined> {
  const st = await stat(path).catch(() => undefined)
  if (!st) return undefined
  if (!st.isFile() || st.size > maxJsonBytes) throw new OciError('bad_image', `${what} is not a file of at most ${maxJsonBytes} bytes`)
  return readFile(path)
}

export async function layoutSource(dir: string, ref: string | undefined, onClose: () => Promise<void> = async () => {}): Promise<ImageSource> {
  const indexBytes = await readSmallFile(join(dir, 'index.json'), `${dir}/index.json`)
  if (indexBytes) return ociLayout(dir, indexBytes, ref, onClose)
  const dockerBytes = await readSmallFile(join(dir, 'manifest.json'), `${dir}/manifest.json`)
  if (dockerBytes) return dockerSave(dir, dockerBytes, ref, onClose)
  await onClose()
  throw new OciError('not_found', `${dir} is neither an OCI image layout (no index.json) nor a docker save (no manifest.json)`)
}

function ociLayout(dir: string, indexBytes: Buffer, ref: string | undefined, onClose: () => Promise<void>): ImageSource {
  const blob = (d: Descriptor) => join(dir, 'blobs', 'sha256', digestHex(d.digest, 'descriptor'))
  return {
    async resolve() {
      const parsed = parseManifestOrIndex(indexBytes, mediaTypes.ociIndex, `${dir}/index.json`)
      if (parsed.kind !== 'index') throw new OciError('bad_image', `${dir}/index.json is not an image index`)
      const all = parsed.index.manifests
      const refs = all.map((m) => m.annotations?.[refAnnotation]).filter((r): r is string => r !== undefined)
      const chosen = ref === undefined ? (all.length === 1 ? all[0] : undefined) : all.find((m) => m.annotations?.[refAnnotation] === ref)
      if (!chosen) {
        const why =
          ref === undefined
            ? `holds ${all.length} images; name one with ref (one of ${refs.join(', ') || 'none named'})`
            : `has no image named ${JSON.stringify(ref)} (has ${refs.join(', ') || 'none named'})`
        throw new OciError(ref === undefined ? 'bad_reference' : 'not_found', `OCI layout ${dir} ${why}`)
      }
      return narrowToManifest(chosen, async (d) => ({ bytes: await readVerified(createReadStream(blob(d)), d, `${dir} blob`) }), `OCI layout ${dir}`)
    },
    async openBlob(d) {
      return openExisting(blob(d), `OCI layout ${dir}: blob ${d.digest}`)
    },
    close: onClose,
  }
}

async function openExisting(path: string, what: string): Promise<Readable> {
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new OciError('not_found', `${what} is missing (${err.code})`)
  })
  return fh.createReadStream()
}

const DockerSave = z.array(z.object({ Config: z.string().max(4096), RepoTags: z.array(z.string().max(1024)).nullish(), Layers: z.array(z.string().max(4096)).max(1000) })).min(1)

/**
 * The legacy `docker save` format has no manifest blob: we write the OCI manifest it implies (config
 * and each layer.tar hashed here), so its digest is stable for the same archive but is not a registry's.
 */
async function dockerSave(dir: string, bytes: Buffer, ref: string | undefined, onClose: () => Promise<void>): Promise<ImageSource> {
  let raw: unknown
  try {
    raw = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new OciError('bad_image', `${dir}/manifest.json is not JSON`)
  }
  const r = DockerSave.safeParse(raw)
  if (!r.success) throw new OciError('bad_image', `${dir}/manifest.json is not a docker save manifest`)
  const images = r.data
  // Docker and skopeo write tags fully qualified (docker.io/library/x:y); a short ref matches them too.
  const tagged = (tags: string[] | null | undefined, r: string) => (tags ?? []).some((t) => t === r || t === `docker.io/${r}` || t === `docker.io/library/${r}`)
  const img = ref === undefined ? (images.length === 1 ? images[0] : undefined) : images.find((i) => tagged(i.RepoTags, ref))
  if (!img) {
    const tags = images.flatMap((i) => i.RepoTags ?? []).join(', ') || 'none'
    throw new OciError(ref === undefined ? 'bad_reference' : 'not_found', `docker save ${dir}: ${ref === undefined ? 'several images; name one with ref' : `no image tagged ${ref}`} (has ${tags})`)
  }
  const files = new Map<string, string>()
  const describe = async (rel: string, mediaType: string): Promise<Descriptor> => {
    const path = join(dir, ...archivePath(rel, `${dir}/manifest.json`))
    const { digest, size, gzip } = await hashFile(path)
    files.set(digest, path)
    return { mediaType: gzip && mediaType === mediaTypes.ociLayerTar ? mediaTypes.ociLayerGzip : mediaType, digest, size }
  }
  const config = await describe(img.Config, mediaTypes.ociConfig)
  const layers: Descriptor[] = []
  for (const l of img.Layers) layers.push(await describe(l, mediaTypes.ociLayerTar))
  const manifest: Manifest = { schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers }
  const digest = sha256Of(Buffer.from(JSON.stringify(manifest)))
  return {
    resolve: async () => ({ digest, manifest }),
    async openBlob(d) {
      const path = files.get(d.digest)
      if (!path) throw new OciError('not_found', `docker save ${dir}: no blob ${d.digest}`)
      return openExisting(path, `docker save ${dir}: ${d.digest}`)
    },
    close: onClose,
  }
}

async function hashFile(path: string): Promise<{ digest: string; size: number; gzip: boolean }> {
  const hash = createHash('sha256')
  let size = 0
  let head: Buffer | undefined
  const stream = await openExisting(path, path)
  for await (const chunk of stream) {
    head ??= chunk as Buffer
    size += (chunk as Buffer).length
    hash.update(chunk as Buffer)
  }
  return { digest: `sha256:${hash.digest('hex')}`, size, gzip: head !== undefined && head[0] === 0x1f && head[1] === 0x8b }
}
