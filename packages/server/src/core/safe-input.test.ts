import { describe, expect, it } from 'vitest'
import { AppError } from './errors.js'
import { checkString, maxInputDepth, parseJsonSafely, safeCopy } from './safe-input.js'

const refusal = (f: () => unknown): AppError => {
  try {
    f()
  } catch (err) {
    if (err instanceof AppError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

describe('safeCopy', () => {
  it('copies JSON values into null-prototype objects, arrays and strings intact', () => {
    const v = safeCopy({ a: [1, { b: 'c\u{1F600}' }], n: null }) as Record<string, any>
    expect(Object.getPrototypeOf(v)).toBeNull()
    expect(Object.getPrototypeOf(v.a[1])).toBeNull()
    expect(JSON.stringify(v)).toBe('{"a":[1,{"b":"c\u{1F600}"}],"n":null}')
  })

  it.each([
    ['{"__proto__":{"x":1}}', '__proto__'],
    ['{"a":{"constructor":{"prototype":{"x":1}}}}', 'a.constructor'],
    ['{"a":[0,{"prototype":1}]}', 'a[1].prototype'],
  ])('refuses %s naming %s', (text, path) => {
    const err = refusal(() => parseJsonSafely(text, 'body'))
    expect(err.code).toBe('invalid_request')
    expect((err.details as { path: string }[])[0]!.path).toBe(path)
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('refuses lone surrogates in strings and keys, keeps well-formed pairs', () => {
    expect(refusal(() => parseJsonSafely('{"name":"a\\ud800"}', 'body')).message).toMatch(/^name: .*lone surrogate U\+D800 at index 1/)
    expect(refusal(() => parseJsonSafely('{"m":{"\\udc00":"v"}}', 'body')).code).toBe('invalid_request')
    expect(() => checkString('\ud83d\ude00', 'x')).not.toThrow()
    expect(() => checkString('\ude00\ud83d', 'x')).toThrow(/lone surrogate/)
  })

  it(`bounds nesting at ${maxInputDepth} levels (no stack overflow on deeper input)`, () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    expect(refusal(() => parseJsonSafely(deep, 'body')).message).toMatch(/nested deeper than 64 levels/)
    expect(() => safeCopy(JSON.parse(`${'['.repeat(maxInputDepth)}${']'.repeat(maxInputDepth)}`))).not.toThrow()
  })

  it('names bad JSON as invalid_request', () => {
    expect(refusal(() => parseJsonSafely('{"a":', 'request body')).message).toMatch(/request body is not valid JSON/)
  })
})
