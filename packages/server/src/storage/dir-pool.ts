/** @module storage/dir-pool — a StoragePool over one directory: reflink clones (cp --reflink=always) or full copies. */
import { lstat, mkdir, readdir, rm, statfs } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { CommandError, runCommand } from './run-command.js'
import { PoolFullError } from './pool-errors.js'
import type { PoolKind, PoolSpace, PoolUsage, StoragePool } from './pool.js'

export interface DirPoolOptions {
  root: string
  reflink: boolean
  backing: 'dir' | 'image'
  onClose?: () => Promise<void>
}

export class DirPool implements StoragePool {
  readonly kind: PoolKind
  readonly root: string
  readonly backing: 'dir' | 'image'
  readonly #onClose: (() => Promise<void>) | undefined
  #closed = false

  constructor(opts: DirPoolOptions) {
    this.kind = opts.reflink ? 'reflink' : 'copy'
    this.root = resolve(opts.root)
    this.backing = opts.backing
    this.#onClose = opts.onClose
  }

  async init(): Promise<this> {
    await mkdir(this.root, { recursive: true, mode: 0o755 })
    return this
  }

  async clone(src: string, dst: string): Promise<void> {
    this.#inside(src)
    this.#inside(dst)
    // cp -a keeps owners (the data dirs belong to the postgres user), modes, links and xattrs.
    const args = ['-a', `--reflink=${this.kind === 'reflink' ? 'always' : 'auto'}`, '--', src, dst]
    try {
      await lstat(dst).then(
        () => {
          throw new Error(`clone target ${dst} already exists`)
        },
        () => undefined,
      )
      await mkdir(dirname(dst), { recursive: true, mode: 0o755 })
      await runCommand('cp', args)
    } catch (err) {
      await rm(dst, { recursive: true, force: true }).catch(() => undefined)
      if (isNoSpace(err)) throw new PoolFullError(this.root, await this.space().catch(() => undefined), err)
      throw err
    }
  }

  async remove(path: string): Promise<void> {
    this.#inside(path)
    await rm(path, { recursive: true, force: true, maxRetries: 3 })
  }

  async usage(path: string): Promise<PoolUsage> {
    this.#inside(path)
    const files: string[] = []
    let bytes = 0
    const walk = async (p: string): Promise<void> => {
      let st
      try {
        st = await lstat(p)
      } catch {
        return // removed while walking (a live cluster deletes temp files)
      }
      bytes += st.blocks * 512
      if (st.isDirectory()) {
        const names = await readdir(p).catch(() => [] as string[])
        for (const n of names) await walk(join(p, n))
      } else if (st.isFile() && st.blocks > 0) files.push(p)
    }
    await walk(path)
    if (this.kind === 'copy' || files.length === 0) return { bytes, exclusiveBytes: bytes }
    let shared = 0
    for (let i = 0; i < files.length; i += 256) shared += await sharedBytes(files.slice(i, i + 256))
    return { bytes, exclusiveBytes: Math.max(0, bytes - shared) }
  }

  async space(): Promise<PoolSpace> {
    const s = await statfs(this.root)
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#onClose?.()
  }

  #inside(p: string): void {
    const rel = relative(this.root, resolve(p))
    if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`path ${p} is outside storage pool ${this.root}`)
  }
}

/** Bytes in extents flagged `shared` (FIEMAP via filefrag); 0 when filefrag is unavailable. */
async function sharedBytes(files: string[]): Promise<number> {
  const r = await runCommand('filefrag', ['-v', ...files], { allowFailure: true }).catch(() => undefined)
  if (!r) return 0
  let blockSize = 4096
  let total = 0
  for (const line of r.stdout.split('\n')) {
    const header = /\((\d+) blocks? of (\d+) bytes\)/.exec(line)
    if (header) {
      blockSize = Number(header[2])
      continue
    }
    const ext = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*\bshared\b/.exec(line)
    if (ext) total += Number(ext[1]) * blockSize
  }
  return total
}

function isNoSpace(err: unknown): boolean {
  if (err instanceof CommandError) return /No space left on device/i.test(err.result.stderr)
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC'
}
