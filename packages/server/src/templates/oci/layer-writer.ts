/**
 * @module templates/oci/layer-writer — applies one layer's tar stream onto a rootfs directory, with the
 * rules a rootfs of untrusted origin needs:
 *  - paths: no absolute paths, no `..`; parents resolved inside the rootfs (`layer-paths.ts`), never
 *    followed by the kernel; files opened O_EXCL|O_NOFOLLOW after the old entry is removed;
 *  - hard links only to existing non-directories inside the rootfs;
 *  - device nodes skipped with a warning (a sandbox gets its /dev from the runtime); FIFOs made;
 *  - owners shifted by uidBase (image uid 0 → uidBase on the host); ids ≥ 65536 refused;
 *  - modes kept, setuid/setgid included (root inside a user namespace only): chmod after chown,
 *    because chown clears those bits;
 *  - whiteouts: `.wh.<name>` removes `<name>` of the layers below, `.wh..wh..opq` empties its directory
 *    of what the layers below put there. Neither marker is ever written as a file.
 */
import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { childEnv } from '../../core/child-env.js'
import type { Logger } from '../../core/log.js'
import { archivePath, resolveDir } from './layer-paths.js'
import { OciError } from './oci-error.js'
import { forEachTarEntry, type ReadEntry } from './tar-entries.js'

const run = promisify(execFile)

/** Ids a user namespace of 65536 maps; anything above cannot be shifted into the sandbox's range. */
const idLimit = 65536
const whiteoutPrefix = '.wh.'
const opaqueMarker = '.wh..wh..opq'

export interface LayerWriteOptions {
  uidBase: number
  log: Logger
  signal?: AbortSignal
  /** Names this layer in errors, e.g. `layer 2 (sha256:…)`. */
  what: string
}

interface LayerState {
  root: string
  o: LayerWriteOptions
  /** Paths (resolved, '/'-joined) this layer made, and their ancestors: an opaque marker keeps these. */
  written: Set<string>
}

/** Applies the plain tar `tar` onto `root`. Throws OciError('bad_image') on an unsafe or malformed entry. */
export async function applyLayer(root: string, tar: Readable, o: LayerWriteOptions): Promise<void> {
  const state: LayerState = { root, o, written: new Set() }
  await forEachTarEntry(tar, o.what, (e) => applyEntry(state, e))
}

async function applyEntry(s: LayerState, e: ReadEntry): Promise<void> {
  s.o.signal?.throwIfAborted()
  const what = `${s.o.what}: ${JSON.stringify(e.path.slice(0, 200))}`
  const comps = archivePath(e.path, s.o.what)
  const name = comps.at(-1)
  if (name === undefined) {
    // The root itself ("./"): keep its owner and mode, if it is a directory entry.
    if (e.type === 'Directory') await setOwnerAndMode(s.root, e, s.o.uidBase, what)
    return void e.resume()
  }
  if (name.startsWith(whiteoutPrefix)) {
    e.resume()
    return name === opaqueMarker ? makeOpaque(s, comps.slice(0, -1)) : whiteout(s, comps.slice(0, -1), name.slice(whiteoutPrefix.length))
  }
  switch (e.type) {
    case 'CharacterDevice':
    case 'BlockDevice':
      s.o.log.warn({ path: e.path, type: e.type }, 'oci: skipped a device node in an image layer')
      return void e.resume()
    case 'Directory':
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
    case 'SymbolicLink':
    case 'Link':
    case 'FIFO':
      break
    default:
      s.o.log.warn({ path: e.path, type: e.type }, 'oci: skipped an unsupported tar entry type')
      return void e.resume()
  }
  const parent = (await resolveDir(s.root, comps.slice(0, -1), { create: { owner: s.o.uidBase }, what: s.o.what })) as string[]
  const path = join(s.root, ...parent, name)
  markWritten(s, [...parent, name])
  if (e.type === 'Directory') return writeDir(path, e, s.o.uidBase, what)
  await removeExisting(path)
  if (e.type === 'SymbolicLink') return writeSymlink(path, e, s.o.uidBase, what)
  if (e.type === 'Link') return writeHardlink(s, path, e, what)
  if (e.type === 'FIFO') return writeFifo(path, e, s.o.uidBase, what)
  return writeFile(path, e, s.o.uidBase, what)
}

function markWritten(s: LayerState, comps: string[]): void {
  for (let i = 1; i <= comps.length; i++) s.written.add(comps.slice(0, i).join('/'))
}

function hostIds(e: ReadEntry, uidBase: number, what: string): { uid: number; gid: number } {
  const uid = e.uid ?? 0
  const gid = e.gid ?? 0
  if (uid >= idLimit || gid >= idLimit || uid < 0 || gid < 0) {
    throw new OciError('bad_image', `${what}: owner ${uid}:${gid} is outside 0..${idLimit - 1}; such an image cannot be mapped into a sandbox`)
  }
  return { uid: uidBase + uid, gid: uidBase + gid }
}

const modeOf = (e: ReadEntry, fallback: number): number => (e.mode ?? fallback) & 0o7777

/** Removes what sits at `path` (a directory with all it holds); never follows a symlink (lstat/unlink, rm does not follow). */
async function removeExisting(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined)
  if (st === undefined) return
  if (st.isDirectory()) await rm(path, { recursive: true, force: true })
  else await unlink(path)
}

/** `path` is a verified real directory (or the root) here, so chmod's following of links cannot apply. */
async function setOwnerAndMode(path: string, e: ReadEntry, uidBase: number, what: string): Promise<void> {
  const { uid, gid } = hostIds(e, uidBase, what)
  await lchown(path, uid, gid)
  await chmod(path, modeOf(e, 0o755))
}

async function writeDir(path: string, e: ReadEntry, uidBase: number, what: string): Promise<void> {
  e.resume()
  const st = await lstat(path).catch(() => undefined)
  if (!st?.isDirectory()) {
    if (st) await unlink(path)
    await mkdir(path, { mode: 0o700 })
  }
  await setOwnerAndMode(path, e, uidBase, what)
}

async function writeFile(path: string, e: ReadEntry, uidBase: number, what: string): Promise<void> {
  const { uid, gid } = hostIds(e, uidBase, what)
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
  try {
    let bytes = 0
    for await (const chunk of e) {
      bytes += (chunk as Buffer).length
      await fh.write(chunk as Buffer)
    }
    if (bytes !== e.size) throw new OciError('bad_image', `${what}: body ended after ${bytes} of ${e.size} bytes (truncated layer)`)
    await fh.chown(uid, gid)
    await fh.chmod(modeOf(e, 0o644))
    if (e.mtime) await fh.utimes(e.mtime, e.mtime)
  } finally {
    await fh.close()
  }
}

async function writeSymlink(path: string, e: ReadEntry, uidBase: number, what: string): Promise<void> {
  e.resume()
  const target = e.linkpath ?? ''
  if (target === '' || target.includes('\0')) throw new OciError('bad_image', `${what}: symlink without a valid target`)
  // Any target is fine: it is only ever resolved inside the sandbox (or lexically, by layer-paths.ts).
  await symlink(target, path)
  const { uid, gid } = hostIds(e, uidBase, what)
  await lchown(path, uid, gid)
  if (e.mtime) await lutimes(path, e.mtime, e.mtime)
}

async function writeHardlink(s: LayerState, path: string, e: ReadEntry, what: string): Promise<void> {
  e.resume()
  const comps = archivePath(e.linkpath ?? '', `${what} (link target)`)
  const name = comps.at(-1)
  const parent = name === undefined ? undefined : await resolveDir(s.root, comps.slice(0, -1), { what: s.o.what })
  const target = parent && name ? join(s.root, ...parent, name) : undefined
  const st = target ? await lstat(target).catch(() => undefined) : undefined
  if (!target || !st || st.isDirectory()) {
    throw new OciError('bad_image', `${what}: hard link target ${JSON.stringify((e.linkpath ?? '').slice(0, 200))} is not an existing file inside the image`)
  }
  // link(2) never follows a symlink at `target`: the new name is a second name of the link itself.
  await link(target, path)
}

async function writeFifo(path: string, e: ReadEntry, uidBase: number, what: string): Promise<void> {
  e.resume()
  // Node has no mkfifo(3); coreutils' mkfifo does one mknod. The path's parents are verified directories.
  await run('mkfifo', ['-m', '600', '--', path], { env: childEnv() })
  await setOwnerAndModeNoFollow(path, e, uidBase, what)
}

async function setOwnerAndModeNoFollow(path: string, e: ReadEntry, uidBase: number, what: string): Promise<void> {
  const { uid, gid } = hostIds(e, uidBase, what)
  await lchown(path, uid, gid)
  // The FIFO we just made is not a link, so chmod on it acts on it.
  await chmod(path, modeOf(e, 0o644))
}

async function whiteout(s: LayerState, parentComps: string[], name: string): Promise<void> {
  if (name === '' || name === '.' || name === '..') throw new OciError('bad_image', `${s.o.what}: whiteout of ${JSON.stringify(name)} refused`)
  const parent = await resolveDir(s.root, parentComps, { what: s.o.what })
  if (parent === undefined) return
  await rm(join(s.root, ...parent, name), { recursive: true, force: true })
}

async function makeOpaque(s: LayerState, dirComps: string[]): Promise<void> {
  const dir = await resolveDir(s.root, dirComps, { create: { owner: s.o.uidBase }, what: s.o.what })
  if (dir === undefined) return
  markWritten(s, dir)
  for (const child of await readdir(join(s.root, ...dir))) {
    const key = [...dir, child].join('/')
    if (!s.written.has(key)) await rm(join(s.root, ...dir, child), { recursive: true, force: true })
  }
}
