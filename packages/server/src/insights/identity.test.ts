import { describe, expect, it } from 'vitest'
import { normalizePath, normalizeSuite, parseVariant, testIdOf, variantKeyOf } from './identity.js'

describe('identity', () => {
  it.each([
    ['/home/runner/work/shop/shop/src/a.test.ts', undefined, 'src/a.test.ts'],
    ['D:\\a\\shop\\shop\\tests\\A.cs', undefined, 'tests/A.cs'],
    ['/builds/team/shop/src/a.py', undefined, 'src/a.py'],
    ['/var/lib/jenkins/workspace/shop-main/test/x.js', undefined, 'test/x.js'],
    ['/tmp/vitest-abc123/math.test.ts', undefined, 'math.test.ts'],
    ['./src//b.ts', undefined, 'src/b.ts'],
    ['/srv/checkout/pkg/a.go', '/srv/checkout', 'pkg/a.go'],
  ])('normalizePath(%j) → %j', (p, root, want) => {
    expect(normalizePath(p, root)).toBe(want)
  })
  it('normalises path-like suites only', () => {
    expect(normalizeSuite('/home/runner/work/a/a/e2e/x.spec.ts')).toBe('e2e/x.spec.ts')
    expect(normalizeSuite('com.example.CartTest ')).toBe('com.example.CartTest')
  })
  it('test ids are stable and differ by each part', () => {
    const a = testIdOf('vitest', 'src/a.ts', 'a', 'x')
    expect(a).toMatch(/^t_[0-9a-f]{16}$/)
    expect(testIdOf('vitest', 'src/a.ts', 'a', 'x')).toBe(a)
    expect(
      new Set([a, testIdOf('jest', 'src/a.ts', 'a', 'x'), testIdOf('vitest', 'src/b.ts', 'a', 'x'), testIdOf('vitest', 'src/a.ts', 'b', 'x'), testIdOf('vitest', 'src/a.ts', 'a', 'y')]).size,
    ).toBe(5)
  })
  it('variant keys are canonical; the CLI form parses', () => {
    expect(variantKeyOf({ os: 'linux', node: '20' })).toBe('node=20,os=linux')
    expect(variantKeyOf({})).toBe('')
    expect(parseVariant('os=linux, node=20')).toEqual({ os: 'linux', node: '20' })
    expect(() => parseVariant('linux')).toThrow(/key=value/)
  })
})
