import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BuildTemplateInput } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { readTemplateFile } from './template.js'

const examples = fileURLToPath(new URL('../../../../../examples/', import.meta.url))

describe('template files', () => {
  it('reads the documented example into a valid build body, copy from: files inlined', () => {
    const spec = readTemplateFile('tidepool.template.yaml', examples)
    const parsed = BuildTemplateInput.parse(spec)
    expect(parsed.name).toBe('hello-web')
    const robots = parsed.steps[1] as { copy: { content: string; encoding: string } }
    expect(robots.copy.encoding).toBe('base64')
    expect(Buffer.from(robots.copy.content, 'base64').toString()).toContain('User-agent')
  })

  it('refuses a file that is not a mapping, and a copy from: file over the limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-tpl-'))
    try {
      writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n')
      expect(() => readTemplateFile('list.yaml', dir)).toThrow(/expected a mapping/)
      writeFileSync(join(dir, 'big.bin'), Buffer.alloc(1024 * 1024 + 1))
      writeFileSync(join(dir, 't.yaml'), 'name: t\nsteps:\n  - copy: { path: /big, from: big.bin }\n')
      expect(() => readTemplateFile('t.yaml', dir)).toThrow(/steps.0.copy.from: big.bin is 1048577 bytes/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
