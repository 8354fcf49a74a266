/**
 * @module templates/oci-api — the types of `templates/oci/index.ts` (helper B's image import), declared
 * here so the templates area compiles and tests before it lands. Types only: the functions reach the
 * service through `TemplateDeps.importImage` / `removeImage`, wired in dispatch/services.ts.
 */
import type { Logger } from '../core/log.js'

export type OciSource =
  | { kind: 'layout'; path: string; ref?: string }
  | { kind: 'archive'; path: string; ref?: string }
  | { kind: 'registry'; image: string; auth?: { username: string; password: string } | { token: string }; insecureHttp?: boolean }

export interface OciImage {
  /** Manifest digest (sha256:…): the template's base digest. */
  digest: string
  layers: { digest: string; size: number; mediaType: string }[]
  config: { env: string[]; workdir?: string; user?: string; cmd?: string[]; entrypoint?: string[] }
  /** Host folder of the unpacked root filesystem (TemplateSpec.rootfs). */
  rootfs: string
  cached: boolean
}

export interface OciProgress {
  phase: 'resolve' | 'fetch' | 'verify' | 'unpack'
  done: number
  total: number
  detail?: string
}

export interface ImportImageOptions {
  storeDir: string
  uidBase: number
  log?: Logger
  signal?: AbortSignal
  onProgress?: (p: OciProgress) => void
}

export type ImportImage = (src: OciSource, o: ImportImageOptions) => Promise<OciImage>
export type RemoveImage = (storeDir: string, digest: string) => Promise<void>
