/** @module storage/reflink-probe — does a directory's filesystem clone files (FICLONE)? */
import { constants } from 'node:fs'
import { copyFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** True when files in `dir` can be reflinked (XFS with reflink=1, Btrfs, bcachefs, …). */
export async function supportsReflink(dir: string): Promise<boolean> {
  const a = join(dir, `.reflink-probe-${process.pid}`)
  const b = `${a}.clone`
  try {
    await writeFile(a, Buffer.alloc(4096, 1))
    await copyFile(a, b, constants.COPYFILE_FICLONE_FORCE)
    return true
  } catch {
    return false
  } finally {
    await rm(a, { force: true })
    await rm(b, { force: true })
  }
}
