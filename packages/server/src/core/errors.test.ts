import { readFileSync } from 'node:fs'
import { errorExitCode, errorStatus } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { AppError, codeOf, invalidInput } from './errors.js'

describe('errors', () => {
  it('docs/errors.md documents every code with its HTTP status and exit code', () => {
    const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8')
    for (const [code, status] of Object.entries(errorStatus)) {
      expect(doc).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\| ${errorExitCode[code as keyof typeof errorExitCode]} \\|`))
    }
  })

  it('turns zod issues into field, rule and value', () => {
    const schema = z.object({ a: z.object({ n: z.number().min(1) }) }).strict()
    const input = { a: { n: 0 }, extra: true }
    const err = invalidInput(schema.safeParse(input).error!, input)
    expect(err.code).toBe('invalid_request')
    expect(err.details).toEqual([
      { path: 'a.n', message: expect.stringMatching(/>=1 \(got 0\)/) },
      { path: '(body)', message: 'unknown field(s) extra; remove them' },
    ])
  })

  it('maps coded driver errors, hides everything else as internal', () => {
    const driver = Object.assign(new Error('no cgroups'), { name: 'RuntimeError', code: 'runtime_unavailable' })
    expect(codeOf(driver)).toBe('runtime_unavailable')
    expect(codeOf(new AppError('conflict', 'x'))).toBe('conflict')
    expect(codeOf(new TypeError('boom'))).toBe('internal')
    expect(codeOf(Object.assign(new Error('x'), { name: 'RuntimeError', code: 'made_up' }))).toBe('internal')
  })
})
