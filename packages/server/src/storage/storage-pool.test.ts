import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { imagePaths, openStoragePool } from './storage-pool.js'
import { storagePoolSuite } from './storage-pool.suite.js'
import { isMounted } from './loop-image.js'
import { childEnv } from '../core/child-env.js'

const base = mkdtempSync(join(tmpdir(), 'tp-storage-'))
afterAll(() => rmSync(base, { recursive: true, force: true }))

function canMountXfs(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount an XFS image'
  try {
    execFileSync('mkfs.xfs', ['-V'], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
  } catch {
    return 'mkfs.xfs missing (apt-get install -y xfsprogs)'
  }
  return undefined
}
const xfsSkip = canMountXfs()

storagePoolSuite({ name: 'copy', open: () => openStoragePool({ dir: join(base, 'copy'), kind: 'copy', imageSizeMb: 0 }) })
storagePoolSuite({ name: 'reflink (loop XFS image)', skip: xfsSkip, open: () => openStoragePool({ dir: join(base, 'image'), kind: 'reflink', imageSizeMb: 320 }) })

describe.skipIf(Boolean(xfsSkip))('loop image lifecycle', () => {
  const dir = join(base, 'life')
  const { image, mountPoint } = imagePaths(dir)
  const loops = () =>
    execFileSync('losetup', ['-a'], { encoding: 'utf8', env: childEnv() })
      .split('\n')
      .filter((l) => l.includes(image))

  it('mounts once, adopts an existing mount, and close() leaves no mount, loop device or mount point', async () => {
    const a = await openStoragePool({ dir, kind: 'auto', imageSizeMb: 320 })
    expect(a.kind).toBe('reflink')
    expect(a.backing).toBe('image')
    expect(await isMounted(mountPoint)).toBe(true)
    expect(loops()).toHaveLength(1)
    const b = await openStoragePool({ dir, kind: 'auto', imageSizeMb: 320 }) // e.g. after a crash: adopted, not mounted twice
    expect(loops()).toHaveLength(1)
    await b.close()
    await a.close()
    expect(await isMounted(mountPoint)).toBe(false)
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(mountPoint)
    expect(loops()).toHaveLength(0)
    expect(existsSync(mountPoint)).toBe(false)
    expect(existsSync(image)).toBe(true) // the image (the data) stays for the next start
  })
})

describe.skipIf(Boolean(xfsSkip))('a private pool dir reached through mountAt', () => {
  it('the image is 0600 in a 0700 dir; the pool is reached only at mountAt, and close() leaves no mount, loop device or mount point', async () => {
    const dir = join(base, 'private')
    const run = join(base, 'run')
    mkdirSync(run)
    const mountAt = join(run, 'pool')
    const { image, mountPoint } = imagePaths(dir)
    const pool = await openStoragePool({ dir, kind: 'auto', imageSizeMb: 320, mountAt })
    try {
      expect(pool.root).toBe(mountAt)
      expect({ dir: statSync(dir).mode & 0o777, image: statSync(image).mode & 0o777 }).toEqual({ dir: 0o700, image: 0o600 })
      expect(mountedAt()).toContain(mountAt)
    } finally {
      await pool.close()
      for (const mp of [mountAt, mountPoint]) if (mountedAt().includes(mp)) execFileSync('umount', [mp]) // never left on the host, even when failing
    }
    expect(mountedAt()).not.toContain(mountAt)
    expect(execFileSync('losetup', ['-j', image], { encoding: 'utf8' })).toBe('')
    expect(existsSync(mountAt)).toBe(false)
  })

  it('a copy pool is bind-mounted at mountAt (the data stays in the dir) and unmounted by close()', async () => {
    const dir = join(base, 'private-copy')
    const mountAt = join(base, 'run-copy')
    const pool = await openStoragePool({ dir, kind: 'copy', imageSizeMb: 0, mountAt })
    try {
      writeFileSync(join(pool.root, 'f'), 'x')
      expect(readFileSync(join(dir, 'copy', 'f'), 'utf8')).toBe('x')
      expect(statSync(dir).mode & 0o777).toBe(0o700)
    } finally {
      await pool.close()
      if (mountedAt().includes(mountAt)) execFileSync('umount', [mountAt])
    }
    expect(mountedAt()).not.toContain(mountAt)
    expect(existsSync(mountAt)).toBe(false)
    expect(existsSync(join(dir, 'copy', 'f'))).toBe(true)
  })
})

function mountedAt(): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
}
