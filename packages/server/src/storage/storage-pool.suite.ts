/** @module storage/storage-pool.suite — one suite every StoragePool implementation passes. */
import { mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PoolFullError } from './pool-errors.js'
import type { StoragePool } from './storage-pool.js'

export interface PoolSuiteTarget {
  name: string
  open: () => Promise<StoragePool>
  /** Why the suite cannot run on this machine (printed), or undefined. */
  skip?: string | undefined
}

export function storagePoolSuite(t: PoolSuiteTarget): void {
  describe.skipIf(Boolean(t.skip))(`StoragePool: ${t.name}${t.skip ? ` (skipped: ${t.skip})` : ''}`, () => {
    let pool: StoragePool
    beforeAll(async () => {
      pool = await t.open()
    })
    afterAll(async () => {
      await pool?.close()
    })

    it('clones a tree with modes and links; the copy is independent', async () => {
      const src = join(pool.root, 'src')
      await mkdir(join(src, 'sub'), { recursive: true, mode: 0o700 })
      await writeFile(join(src, 'sub', 'data'), Buffer.alloc(1 << 20, 7), { mode: 0o600 })
      await symlink('sub/data', join(src, 'link'))
      await pool.clone(src, join(pool.root, 'dst'))
      expect((await stat(join(pool.root, 'dst', 'sub'))).mode & 0o777).toBe(0o700)
      expect((await stat(join(pool.root, 'dst', 'sub', 'data'))).mode & 0o777).toBe(0o600)
      expect(await readlink(join(pool.root, 'dst', 'link'))).toBe('sub/data')
      await writeFile(join(pool.root, 'dst', 'sub', 'data'), 'changed')
      expect((await readFile(join(src, 'sub', 'data'))).length).toBe(1 << 20)
    })

    it('reports usage; a fresh reflink clone holds (almost) nothing exclusively', async () => {
      await pool.clone(join(pool.root, 'src'), join(pool.root, 'dst2'))
      const u = await pool.usage(join(pool.root, 'dst2'))
      expect(u.bytes).toBeGreaterThanOrEqual(1 << 20)
      if (pool.kind === 'reflink') expect(u.exclusiveBytes).toBeLessThan(1 << 19)
      else expect(u.exclusiveBytes).toBe(u.bytes)
      const s = await pool.space()
      expect(s.totalBytes).toBeGreaterThan(s.freeBytes)
    })

    it('refuses an existing target and paths outside the pool, leaving nothing behind', async () => {
      await expect(pool.clone(join(pool.root, 'src'), join(pool.root, 'dst'))).rejects.toThrow(/already exists/)
      await expect(pool.clone('/etc', join(pool.root, 'etc'))).rejects.toThrow(/outside storage pool/)
      await expect(pool.remove('/tmp')).rejects.toThrow(/outside storage pool/)
      await pool.remove(join(pool.root, 'dst'))
      await pool.remove(join(pool.root, 'dst')) // idempotent
      await expect(stat(join(pool.root, 'dst'))).rejects.toThrow()
    })

    it('fails a clone with PoolFullError when space runs out, and removes the partial copy', async () => {
      const free = (await pool.space()).freeBytes
      if (pool.kind === 'reflink' || free > 512 * 1_048_576) return // only meaningful on a small copy pool
      const big = join(pool.root, 'big')
      await mkdir(big)
      await writeFile(join(big, 'f'), Buffer.alloc(Math.floor(free * 0.6)))
      await expect(pool.clone(big, join(pool.root, 'big2'))).rejects.toBeInstanceOf(PoolFullError)
      await expect(stat(join(pool.root, 'big2'))).rejects.toThrow()
      await pool.remove(big)
    })
  })
}
