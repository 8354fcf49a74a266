import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveLayers } from './template-layers.js'

describe('resolveLayers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-layers-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'a', 'root'), { recursive: true })
  mkdirSync(join(dir, 'a', 'usr'))
  mkdirSync(join(dir, 'b', 'root'), { recursive: true })
  mkdirSync(join(dir, 'noroot'))
  writeFileSync(join(dir, 'file'), 'x')

  it('resolves root/ and usr/ (only when present), keeping the order', () => {
    expect(resolveLayers({ name: 't', rootfs: 'host', layers: [join(dir, 'a'), join(dir, 'b')] })).toEqual([
      { root: join(dir, 'a', 'root'), usr: join(dir, 'a', 'usr') },
      { root: join(dir, 'b', 'root') },
    ])
    expect(resolveLayers({ name: 't', rootfs: 'host' })).toEqual([])
  })

  it('refuses a missing layer, a file, a layer without root/ and an unusable path with invalid_request', () => {
    for (const [l, msg] of [
      [join(dir, 'missing'), /layers\[0\]: .*missing does not exist/],
      [join(dir, 'file'), /does not exist \(or is no directory\)/],
      [join(dir, 'noroot'), /is not a layer \(it has no root\/ directory/],
      ['relative/x', /absolute, normalised path/],
      [`${dir}/a:b`, /without ':'/],
    ] as const) {
      expect(() => resolveLayers({ name: 't', rootfs: 'host', layers: [l] })).toThrow(expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(msg) }))
    }
  })
})
