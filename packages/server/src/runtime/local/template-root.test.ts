import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ensureHostTemplate, readHostLayout } from './template-root.js'

const root = process.getuid?.() === 0
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-tpl-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

describe.skipIf(!root)('ensureHostTemplate (needs root to chown)', () => {
  it('builds a skeleton owned by the sandbox root, once', () => {
    const layout = readHostLayout()
    const dir = ensureHostTemplate(dataDir, 100000, layout)
    expect(dir).toBe(join(dataDir, 'templates', 'host', 'root'))
    const st = (p: string) => lstatSync(join(dir, p))
    expect(st('').uid).toBe(100000)
    expect(st('tmp').mode & 0o7777).toBe(0o1777)
    expect(st('root').mode & 0o777).toBe(0o700)
    expect(st('home/user').uid).toBe(101000)
    expect(st('workspace').uid).toBe(101000)
    for (const e of layout) {
      if (e.kind === 'symlink') expect(readlinkSync(join(dir, e.name))).toBe(e.target)
    }
    expect(readFileSync(join(dir, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:root:\/root:\/bin\/bash\nuser:x:1000:1000::\/home\/user:\/bin\/bash\n/)
    for (const secret of ['shadow', 'gshadow', 'sudoers', 'ssh', 'ssl/private']) expect(existsSync(join(dir, 'etc', secret))).toBe(false)
    // Idempotent: a second call returns the same tree without rebuilding it.
    const mtime = st('etc').mtimeMs
    expect(ensureHostTemplate(dataDir, 100000, layout)).toBe(dir)
    expect(st('etc').mtimeMs).toBe(mtime)
  })
})
