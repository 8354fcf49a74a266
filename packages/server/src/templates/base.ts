/**
 * @module templates/base — a template's base as a digest and a root the runtime mounts.
 *
 * host: a fixed digest of the skeleton version (the runtime's host template is the same on every
 * build). rootfs: the folder's real path plus a stamp of its inode, times and top-level entries —
 * cheap, and it catches a replaced or re-populated folder; a change deep inside that touches no
 * top-level entry is not seen (build with noCache then). image: the manifest digest.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { TemplateBase } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { ImportImage, OciProgress, OciSource } from './oci-api.js'
import { parseImageRef } from './oci/image-ref.js'
import { sha256 } from './plan.js'

/** Bump when the runtime's host skeleton changes in a way that invalidates built layers. */
export const HOST_SKELETON_VERSION = 'host-skeleton/v1'
export const HOST_BASE_DIGEST = `sha256:${sha256(HOST_SKELETON_VERSION)}`

export interface ResolvedBase {
  kind: 'host' | 'rootfs' | 'image'
  digest: string
  rootfs: string
  /** Path or image reference, never credentials. */
  source?: string
  /** An image's own Env and WorkingDir: the template's defaults, below what the template sets. */
  env?: Record<string, string>
  workdir?: string
}

/** An image config's `Env` (`KEY=value` lines) as a record; malformed lines are left out. */
export function imageEnv(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null)
  for (const line of lines) {
    const eq = line.indexOf('=')
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return { ...out }
}

/** Most top-level entries a rootfs stamp reads (a root filesystem has a few dozen). */
const maxStampEntries = 4096

export function rootfsStamp(dir: string): { real: string; digest: string } {
  let real: string
  try {
    real = realpathSync(dir)
    if (!statSync(real).isDirectory()) throw new Error('not a directory')
  } catch (err) {
    throw new AppError(
      'invalid_request',
      `base.rootfs ${JSON.stringify(dir)} is not a readable directory on the server (${(err as Error).message}); give the absolute path of a root filesystem folder`,
      [{ path: 'base.rootfs', message: 'not a directory' }],
    )
  }
  const st = statSync(real)
  const parts = [real, st.dev, st.ino, st.mtimeMs, st.ctimeMs]
  const names = readdirSync(real).sort().slice(0, maxStampEntries)
  for (const n of names) {
    const e = lstatSync(join(real, n), { throwIfNoEntry: false })
    if (e) parts.push(n, e.ino, e.mtimeMs, e.ctimeMs, e.size)
  }
  return { real, digest: `sha256:${sha256(JSON.stringify(parts))}` }
}

/** Whether a base reads host paths (and so needs the admin scope). */
export function baseReadsHostPaths(base: TemplateBase): boolean {
  if ('rootfs' in base) return true
  if ('image' in base) return base.image.kind !== 'registry'
  return false
}

/**
 * Why a base needs an admin token, or undefined: a host path (it reads what the server can read), or a
 * registry outside config `templates.registries` (a pull makes the server send requests there, so a
 * project token could probe loopback and private services from the server).
 */
export function whyAdminOnly(base: TemplateBase, registries: readonly string[]): string | undefined {
  if (baseReadsHostPaths(base)) return 'a rootfs, OCI layout or archive base reads a path on the server host'
  if ('image' in base && base.image.kind === 'registry') {
    const { registry } = parseImageRef(base.image.image)
    if (!registries.includes(registry)) return `registry ${registry} is not in the server's templates.registries (${registries.join(', ') || 'none'})`
  }
  return undefined
}

export function describeImage(src: OciSource): string {
  return src.kind === 'registry' ? src.image : `${src.kind}:${src.path}${src.ref ? `:${src.ref}` : ''}`
}

export async function resolveBase(
  base: TemplateBase,
  o: { importImage?: ImportImage | undefined; storeDir: string; uidBase: number; signal?: AbortSignal | undefined; onProgress?: (p: OciProgress) => void },
): Promise<ResolvedBase> {
  if ('host' in base) return { kind: 'host', digest: HOST_BASE_DIGEST, rootfs: 'host' }
  if ('rootfs' in base) {
    const { real, digest } = rootfsStamp(base.rootfs)
    return { kind: 'rootfs', digest, rootfs: real, source: base.rootfs }
  }
  if (!o.importImage) {
    throw new AppError('runtime_unavailable', 'this server cannot import OCI images yet (no image importer is wired); use a host or rootfs base', [
      { path: 'base.image', message: 'image import unavailable' },
    ])
  }
  const img = await o.importImage(base.image as OciSource, { storeDir: o.storeDir, uidBase: o.uidBase, signal: o.signal, onProgress: o.onProgress })
  return {
    kind: 'image',
    digest: img.digest,
    rootfs: img.rootfs,
    source: describeImage(base.image as OciSource),
    env: imageEnv(img.config.env),
    ...(img.config.workdir ? { workdir: img.config.workdir } : {}),
  }
}
