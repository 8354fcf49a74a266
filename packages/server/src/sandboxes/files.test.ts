import { describe, expect, it } from 'vitest'
import { resolvePath } from './files.js'

describe('resolvePath', () => {
  it('anchors relative paths at /home/user', () => {
    expect(resolvePath('a/b.txt')).toBe('/home/user/a/b.txt')
    expect(resolvePath('/workspace//x/')).toBe('/workspace/x')
    expect(resolvePath('/')).toBe('/')
  })
  it('refuses .. and NUL', () => {
    expect(() => resolvePath('../../etc/passwd')).toThrow(/contains '\.\.'/)
    expect(() => resolvePath('/workspace/../../root')).toThrow(/contains '\.\.'/)
    expect(() => resolvePath('a\0b')).toThrow(/NUL/)
  })
})
