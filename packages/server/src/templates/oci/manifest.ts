/**
 * @module templates/oci/manifest — media types, and manifests, indexes and image configs parsed from
 * untrusted JSON (zod drops unknown keys; JSON.parse makes own properties only, so nothing reaches a prototype).
 */
import { z } from 'zod'
import { isDigest } from './digest.js'
import { OciError } from './oci-error.js'

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const

/** What a registry GET of a manifest accepts (every kind we can read). */
export const manifestAccept = [mediaTypes.ociManifest, mediaTypes.ociIndex, mediaTypes.dockerManifest, mediaTypes.dockerList].join(', ')

const layerTypes = new Set<string>([
  mediaTypes.ociLayerTar,
  mediaTypes.ociLayerGzip,
  mediaTypes.ociLayerZstd,
  mediaTypes.dockerLayerGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
])

/** Manifests, configs and indexes are small; a bigger "manifest" is an attack or a mistake. */
export const maxJsonBytes = 4 * 1024 * 1024

const Descriptor = z.object({
  mediaType: z.string().max(255),
  digest: z.string().refine(isDigest, 'must be sha256:<64 lowercase hex>'),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  platform: z.object({ os: z.string().max(64), architecture: z.string().max(64), variant: z.string().max(64).optional() }).optional(),
  annotations: z.record(z.string().max(1024), z.string().max(4096)).optional(),
})
export type Descriptor = z.infer<typeof Descriptor>

const Manifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor).max(1000),
})
export type Manifest = z.infer<typeof Manifest>

const Index = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor).max(10_000),
})
export type Index = z.infer<typeof Index>

const strList = z.array(z.string().max(1 << 16)).max(10_000)
const Config = z.object({
  architecture: z.string().max(64).optional(),
  os: z.string().max(64).optional(),
  config: z
    .object({
      Env: strList.nullish(),
      WorkingDir: z.string().max(4096).nullish(),
      User: z.string().max(256).nullish(),
      Cmd: strList.nullish(),
      Entrypoint: strList.nullish(),
    })
    .nullish(),
  rootfs: z.object({ type: z.string(), diff_ids: z.array(z.string()).max(1000) }).optional(),
})

export interface ImageConfig {
  env: string[]
  workdir?: string
  user?: string
  cmd?: string[]
  entrypoint?: string[]
}

function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  if (bytes.length > maxJsonBytes) throw new OciError('bad_image', `${what} is ${bytes.length} bytes; at most ${maxJsonBytes} accepted`)
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new OciError('bad_image', `${what} is not JSON: ${(err as Error).message}`)
  }
  const r = schema.safeParse(raw)
  if (!r.success) {
    const first = r.error.issues[0]
    throw new OciError('bad_image', `${what} is malformed: ${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}`)
  }
  return r.data
}

export type ManifestOrIndex = { kind: 'manifest'; manifest: Manifest } | { kind: 'index'; index: Index }

/** Tells a manifest from an index by media type (the header's, else the body's), else by shape. */
export function parseManifestOrIndex(bytes: Uint8Array, mediaType: string | undefined, what: string): ManifestOrIndex {
  const probe = parseJson(z.object({ mediaType: z.string().optional(), manifests: z.unknown().optional() }), bytes, what)
  const type = probe.mediaType ?? mediaType
  const isIndex = type === mediaTypes.ociIndex || type === mediaTypes.dockerList || (type === undefined && probe.manifests !== undefined)
  if (isIndex) return { kind: 'index', index: parseJson(Index, bytes, what) }
  if (type !== undefined && type !== mediaTypes.ociManifest && type !== mediaTypes.dockerManifest) {
    throw new OciError('bad_image', `${what} has media type ${JSON.stringify(type.slice(0, 100))}; expected an OCI or Docker v2 manifest or index`)
  }
  const manifest = parseJson(Manifest, bytes, what)
  for (const [i, l] of manifest.layers.entries()) {
    if (!layerTypes.has(l.mediaType)) throw new OciError('bad_image', `${what}: layers.${i} has media type ${JSON.stringify(l.mediaType)}, not a tar layer`)
  }
  return { kind: 'manifest', manifest }
}

export function parseConfig(bytes: Uint8Array, what: string): ImageConfig {
  const c = parseJson(Config, bytes, what)
  const cfg = c.config ?? {}
  const out: ImageConfig = { env: cfg.Env ?? [] }
  if (cfg.WorkingDir) out.workdir = cfg.WorkingDir
  if (cfg.User) out.user = cfg.User
  if (cfg.Cmd) out.cmd = cfg.Cmd
  if (cfg.Entrypoint) out.entrypoint = cfg.Entrypoint
  return out
}

/** The GOARCH name of this host (what `platform.architecture` says). */
export function hostArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }
  return map[process.arch] ?? process.arch
}

/** The linux manifest for `arch` in an index (attestation manifests, platform unknown/unknown, are skipped). */
export function pickPlatform(index: Index, what: string, arch = hostArch()): Descriptor {
  const fit = index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch)
  if (fit) return fit
  const have = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '(no platform)'))
  throw new OciError('no_platform', `${what} has no linux/${arch} manifest (has ${have.join(', ') || 'none'})`)
}
