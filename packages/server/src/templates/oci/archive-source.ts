/**
 * @module templates/oci/archive-source — a tarball (`docker save`, or an OCI archive: a tar of an
 * image layout; gzip accepted) extracted under tmp/ and read as a layout. Only regular files and
 * directories are written; links inside the archive (old `docker save` links shared layer.tar files)
 * become hard links to files of the archive, never anything outside it.
 */
import { constants, createReadStream } from 'node:fs'
import { link, lstat, mkdir, open, rm } from 'node:fs/promises'
import { join, posix } from 'node:path'
import type { BlobStore } from './blob-store.js'
import type { ImageSource } from './image-source.js'
import { archivePath } from './layer-paths.js'
import { layoutSource } from './layout-source.js'
import { OciError } from './oci-error.js'
import { forEachTarEntry } from './tar-entries.js'

export async function archiveSource(path: string, ref: string | undefined, store: BlobStore, active: Set<string>): Promise<ImageSource> {
  const st = await lstat(path).catch(() => undefined)
  if (!st?.isFile()) throw new OciError('not_found', `image archive ${path} is not a file`)
  const dir = store.tmpName('archive')
  active.add(dir)
  const cleanup = async () => {
    await rm(dir, { recursive: true, force: true })
    active.delete(dir)
  }
  try {
    await mkdir(dir, { mode: 0o700 })
    const links: { at: string[]; target: string[] }[] = []
    await forEachTarEntry(createReadStream(path), `image archive ${path}`, async (e) => {
      const comps = archivePath(e.path, `image archive ${path}`)
      if (comps.length === 0) return void e.resume()
      // Directories and files only; no symlink is ever made, so no later path can be redirected.
      await mkdir(join(dir, ...comps.slice(0, -1)), { recursive: true, mode: 0o700 })
      const at = join(dir, ...comps)
      if (e.type === 'Directory') return void (e.resume(), await mkdir(at, { recursive: true, mode: 0o700 }))
      if (e.type === 'SymbolicLink' || e.type === 'Link') {
        const target = e.type === 'Link' ? (e.linkpath ?? '') : posix.join(posix.dirname(comps.join('/')), e.linkpath ?? '')
        links.push({ at: comps, target: archivePath(target, `image archive ${path}: link ${e.path}`) })
        return void e.resume()
      }
      if (e.type !== 'File' && e.type !== 'OldFile' && e.type !== 'ContiguousFile') return void e.resume()
      const fh = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
      try {
        for await (const chunk of e) await fh.write(chunk as Buffer)
      } finally {
        await fh.close()
      }
    })
    for (const l of links) {
      const target = join(dir, ...l.target)
      const tst = await lstat(target).catch(() => undefined)
      if (!tst?.isFile()) throw new OciError('bad_image', `image archive ${path}: link ${l.at.join('/')} points at ${l.target.join('/')}, not a file of the archive`)
      await link(target, join(dir, ...l.at))
    }
    return await layoutSource(dir, ref, cleanup)
  } catch (err) {
    await cleanup()
    throw err
  }
}
