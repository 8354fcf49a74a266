import { lstat, mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../core/log.js'
import { applyLayer } from './layer-writer.js'
import { makeTar, type TarEntry } from './test-tar.js'

const uidBase = 100_000
let root: string
let outside: string

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'oci-root-'))
  outside = await mkdtemp(join(tmpdir(), 'oci-outside-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
  await rm(outside, { recursive: true, force: true })
})

const apply = (entries: TarEntry[], opts: { truncate?: number } = {}) => applyLayer(root, Readable.from([makeTar(entries, opts)]), { uidBase, log: silentLogger, what: 'layer 1' })

describe.skipIf(process.getuid?.() !== 0)('applyLayer (needs root: chown)', () => {
  it('writes files, dirs and symlinks with owners shifted by uidBase and modes (setuid) kept', async () => {
    await apply([
      { path: './bin/', type: '5' },
      { path: './bin/tool', body: 'hi', mode: 0o4755, uid: 0, gid: 0 },
      { path: 'home/u/f', body: 'x', uid: 1000, gid: 1000, mode: 0o600 },
      { path: 'link', type: '2', linkpath: '/bin/tool' },
    ])
    const tool = await stat(join(root, 'bin/tool'))
    expect([tool.uid, tool.gid, tool.mode & 0o7777]).toEqual([uidBase, uidBase, 0o4755])
    const f = await stat(join(root, 'home/u/f'))
    expect([f.uid, f.mode & 0o777]).toEqual([uidBase + 1000, 0o600])
    expect(await readlink(join(root, 'link'))).toBe('/bin/tool')
    expect((await lstat(join(root, 'link'))).uid).toBe(uidBase)
    expect(await readFile(join(root, 'bin/tool'), 'utf8')).toBe('hi')
  })

  it('refuses .. and absolute paths', async () => {
    await expect(apply([{ path: '../evil', body: 'x' }])).rejects.toMatchObject({ reason: 'bad_image' })
    await expect(apply([{ path: 'a/../../evil', body: 'x' }])).rejects.toThrow(/'\.\.'/)
    await expect(apply([{ path: '/etc/evil', body: 'x' }])).rejects.toThrow(/absolute path/)
    expect(await readdir(join(root, '..')).then((n) => n.includes('evil'))).toBe(false)
  })

  it('a planted symlink to a host directory never lets a later entry write outside the rootfs', async () => {
    await apply([
      { path: 'a', type: '2', linkpath: outside },
      { path: 'a/passwd', body: 'pwned' },
      { path: 'rel', type: '2', linkpath: '../../../../..' + outside },
      { path: 'rel/shadow', body: 'pwned' },
    ])
    expect(await readdir(outside)).toEqual([])
    // Resolved as the image sees it: inside the rootfs.
    expect(await readFile(join(root, outside, 'passwd'), 'utf8')).toBe('pwned')
    expect(await readFile(join(root, outside, 'shadow'), 'utf8')).toBe('pwned')
  })

  it('a file entry over a symlink replaces the link, never writes through it', async () => {
    await apply([
      { path: 'x', type: '2', linkpath: join(outside, 'target') },
      { path: 'x', body: 'mine' },
    ])
    expect(await readdir(outside)).toEqual([])
    expect((await lstat(join(root, 'x'))).isFile()).toBe(true)
  })

  it('hard links only to files inside the rootfs', async () => {
    await expect(apply([{ path: 'h', type: '1', linkpath: '../outside' }])).rejects.toThrow(/'\.\.'/)
    await expect(apply([{ path: 'h', type: '1', linkpath: join(outside, 'f') }])).rejects.toThrow(/absolute path/)
    await expect(apply([{ path: 'h', type: '1', linkpath: 'missing' }])).rejects.toThrow(/not an existing file/)
    await apply([
      { path: 'f', body: 'one' },
      { path: 'h', type: '1', linkpath: 'f' },
    ])
    expect((await stat(join(root, 'h'))).ino).toBe((await stat(join(root, 'f'))).ino)
  })

  it('applies whiteouts and opaque directories to the layers below', async () => {
    await apply([
      { path: 'd/x', body: '1' },
      { path: 'd/y', body: '2' },
      { path: 'gone', body: '3' },
      { path: 'keep', body: '4' },
    ])
    await apply([{ path: '.wh.gone' }, { path: 'd/', type: '5' }, { path: 'd/z', body: 'new' }, { path: 'd/.wh..wh..opq' }])
    expect((await readdir(root)).sort()).toEqual(['d', 'keep'])
    expect(await readdir(join(root, 'd'))).toEqual(['z'])
  })

  it('refuses owners that cannot be mapped, skips device nodes, makes FIFOs', async () => {
    await expect(apply([{ path: 'f', body: 'x', uid: 65536 }])).rejects.toThrow(/outside 0\.\.65535/)
    await apply([
      { path: 'null', type: '3' },
      { path: 'pipe', type: '6', mode: 0o620 },
    ])
    await expect(lstat(join(root, 'null'))).rejects.toThrow()
    const p = await lstat(join(root, 'pipe'))
    expect([p.isFIFO(), p.mode & 0o777, p.uid]).toEqual([true, 0o620, uidBase])
  })

  it('a truncated layer is an error', async () => {
    await expect(apply([{ path: 'big', body: Buffer.alloc(5000, 1) }], { truncate: 2048 })).rejects.toMatchObject({ reason: 'bad_image' })
  })
})
