/** @module runtime/local/mounts — decides what a sandbox's filesystem is made of (pure: no I/O). */
import { join, posix } from 'node:path'
import type { HotMount, SandboxSpec } from '../runtime.js'
import { RuntimeError } from './runtime-error.js'

/** Where one sandbox keeps its state on the host: `<dataDir>/sandboxes/<id>/…`. */
export interface SandboxPaths {
  dir: string
  /** Mount point of the sandbox's root (only inside its private mount namespace). */
  merged: string
  upperRoot: string
  workRoot: string
  upperUsr: string
  workUsr: string
}

export interface OverlayMount {
  /** Path inside the sandbox ('/' for the root). */
  target: string
  /** Read-only layers, topmost first. */
  lowers: string[]
  upper: string
  work: string
}

export interface BindMount {
  source: string
  /** Path inside the sandbox. */
  target: string
  readOnly: boolean
}

export interface MountPlan {
  root: string
  overlays: OverlayMount[]
  binds: BindMount[]
  /** Paths inside the sandbox to hide (empty file / empty read-only dir). */
  masks: string[]
}

/** How the host lays out a top-level system path: a symlink (merged /usr) or a directory of its own. */
export type HostLayoutEntry = { name: string; kind: 'symlink'; target: string } | { name: string; kind: 'dir' }

/** Top-level system paths the host template mirrors besides /usr. */
export const systemTopLevel = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'] as const

/** A read-only template layer on the host, resolved: its `root/` and, when it has one, its `usr/`. */
export interface TemplateLayer {
  root: string
  usr?: string
}

/**
 * Where snapshots live: a sibling of the sandboxes in the same disk pool (a snapshot must be on the
 * filesystem it captures). Its leading dot is outside SANDBOX_ID_RE, so no sandbox list sees it.
 */
export function snapshotsDir(dataDir: string): string {
  return join(dataDir, 'sandboxes', '.snapshots')
}

export function sandboxPaths(dataDir: string, id: string): SandboxPaths {
  const dir = join(dataDir, 'sandboxes', id)
  return {
    dir,
    merged: join(dir, 'merged'),
    upperRoot: join(dir, 'upper', 'root'),
    workRoot: join(dir, 'work', 'root'),
    upperUsr: join(dir, 'upper', 'usr'),
    workUsr: join(dir, 'work', 'usr'),
  }
}

/**
 * The mounts of a sandbox: its root is an overlay of the template (read-only) under its own writable
 * layer. For the 'host' template the lower layer is a generated skeleton (no host /etc secrets, no
 * /root, /home or data dirs) and the host's /usr comes in as a second overlay, so writes anywhere
 * stay in the sandbox. A rootfs-folder template is the single lower layer.
 */
export function planMounts(input: {
  spec: SandboxSpec
  paths: SandboxPaths
  /** The skeleton root built by template-root.ts (used when template.rootfs is 'host'). */
  hostTemplateRoot: string
  hostLayout: HostLayoutEntry[]
  /** TemplateSpec.layers, resolved (template-layers.ts), lowest first as there. */
  layers?: TemplateLayer[]
}): MountPlan {
  const { spec, paths } = input
  const masks = spec.denyRead.map((p, i) => checkSandboxPath(p, `denyRead[${i}]`))
  // overlayfs wants its lowers topmost first: the last template layer is the highest.
  const top = [...(input.layers ?? [])].reverse()
  const roots = top.map((l) => l.root)
  if (spec.template.rootfs === 'host') {
    const usrs = top.flatMap((l) => (l.usr ? [l.usr] : []))
    return {
      root: paths.merged,
      overlays: [
        { target: '/', lowers: [...roots, input.hostTemplateRoot], upper: paths.upperRoot, work: paths.workRoot },
        { target: '/usr', lowers: [...usrs, '/usr'], upper: paths.upperUsr, work: paths.workUsr },
      ],
      // A host that keeps /bin, /lib… as real directories gets them read-only, as they are.
      binds: input.hostLayout.filter((e) => e.kind === 'dir').map((e) => ({ source: `/${e.name}`, target: `/${e.name}`, readOnly: true })),
      masks,
    }
  }
  const rootfs = checkHostPath(spec.template.rootfs, `template ${spec.template.name} rootfs`)
  return {
    root: paths.merged,
    overlays: [{ target: '/', lowers: [...roots, rootfs], upper: paths.upperRoot, work: paths.workRoot }],
    binds: [],
    masks,
  }
}

/** overlayfs splits its options on ',' and lowerdir on ':', so such paths cannot be layers. */
export function checkHostPath(p: string, what: string): string {
  if (!posix.isAbsolute(p) || posix.normalize(p) !== p || /[:,\n\0]/.test(p)) {
    throw new RuntimeError('invalid_request', `${what} must be an absolute, normalised path without ':' or ',' (got ${JSON.stringify(p)})`)
  }
  return p
}

/** A path inside the sandbox: absolute, normalised, not '/' itself. */
export function checkSandboxPath(p: string, what: string): string {
  const clean = posix.normalize(p).replace(/(?<!\/)\/+$/, '')
  if (!posix.isAbsolute(p) || clean === '' || /[\n\0]/.test(p) || p.split('/').includes('..')) {
    throw new RuntimeError('invalid_request', `${what} must be an absolute path inside the sandbox other than / (got ${JSON.stringify(p)})`)
  }
  return clean
}

/** Where bindMount may put a host directory: places for data and sockets, never system paths. */
export const hotMountRoots = ['/run', '/var/run', '/tmp', '/home', '/mnt', '/workspace'] as const
/** Of those, the ones that may be replaced as a whole (the rest hold things the system needs). */
const wholeRootAllowed = new Set(['/mnt', '/workspace'])

/** Validates a bindMount request: normalised target under an allowed root, absolute host source. */
export function checkHotMount(m: HotMount): { source: string; target: string; readOnly: boolean } {
  if (typeof m?.source !== 'string' || !posix.isAbsolute(m.source) || /[\n\0]/.test(m.source) || m.source.split('/').includes('..')) {
    throw new RuntimeError('invalid_request', `bind mount source must be an absolute host path without '..' (got ${JSON.stringify(m?.source)})`)
  }
  const source = posix.normalize(m.source).replace(/(.)(?<!\/\/)\/+$/, '$1')
  if (source === '/') throw new RuntimeError('invalid_request', "bind mount source must be a directory other than the host's /")
  return { source, target: checkHotMountTarget(m.target), readOnly: m.readOnly === true }
}

/** A bindMount target: an absolute sandbox path that shadows no system path. */
export function checkHotMountTarget(target: string): string {
  if (typeof target !== 'string') throw new RuntimeError('invalid_request', `bind mount target must be a string (got ${JSON.stringify(target)})`)
  const clean = checkSandboxPath(target, 'bind mount target')
  const ok = hotMountRoots.some((r) => clean.startsWith(`${r}/`) || (clean === r && wholeRootAllowed.has(r)))
  if (!ok) {
    throw new RuntimeError('invalid_request', `bind mount target ${JSON.stringify(target)} would shadow a system path; use a path below ${hotMountRoots.join(', ')} (or /mnt, /workspace themselves)`)
  }
  return clean
}
