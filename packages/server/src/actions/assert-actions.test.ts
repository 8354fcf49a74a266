import type { Principal } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { ActionService } from './service.js'

const reader: Principal = { tokenId: 'tok_r', name: 'reader', project: 'p', scopes: ['sandboxes:read'] } as Principal
const noSandbox = {
  exec: async () => {
    throw new Error('no sandbox in this test')
  },
}
const svc = new ActionService({ sandbox: noSandbox })
const run = (name: string, input: Record<string, unknown>) => svc.run(reader, { name, input, timing: false })

describe('assert.equals', () => {
  it('ignores key order and names the first difference', async () => {
    expect(await run('assert.equals', { actual: { b: 1, a: [1, 2] }, expected: { a: [1, 2], b: 1 } })).toEqual({ ok: true, output: { equal: true } })
    expect(await run('assert.equals', { actual: { a: [1, 2], z: 1 }, expected: { a: [1, 3], z: 1 } })).toEqual({ ok: false, output: { equal: false, firstDifference: '$.a[1]' } })
    expect(await run('assert.equals', { actual: { 'a b': 1 }, expected: {} })).toEqual({ ok: false, output: { equal: false, firstDifference: '$["a b"]' } })
  })
  it('refuses unknown fields with invalid_request under input.', async () => {
    await expect(run('assert.equals', { actual: 1, expected: 1, extra: true })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('input') })
  })
})

describe('assert.match', () => {
  it('matches with groups, and is false without a match', async () => {
    expect(await run('assert.match', { value: 'version 1.2.3', pattern: '(\\d+)\\.(\\d+)' })).toEqual({ ok: true, output: { matched: true, match: '1.2', index: 8, groups: ['1', '2'] } })
    expect(await run('assert.match', { value: 'nope', pattern: '^x' })).toEqual({ ok: false, output: { matched: false } })
  })
  it('refuses backreferences and lookaround (not linear-time)', async () => {
    await expect(run('assert.match', { value: 'aa', pattern: '(a)\\1' })).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(run('assert.match', { value: 'ab', pattern: 'a(?=b)' })).rejects.toMatchObject({ code: 'invalid_request' })
  })
  it('runs a pattern that backtracks exponentially elsewhere on a long subject (the linear engine)', async () => {
    // (a|a)*b on 40 a's takes 2^40 steps by backtracking; the linear engine answers. The test ends either way.
    expect(await run('assert.match', { value: 'a'.repeat(40), pattern: '^(a|a)*b$' })).toEqual({ ok: false, output: { matched: false } })
  })
  it('bounds the pattern', async () => {
    await expect(run('assert.match', { value: 'a', pattern: 'a'.repeat(1025) })).rejects.toMatchObject({ code: 'invalid_request' })
  })
})

describe('assert.schema', () => {
  const schema = { type: 'object', required: ['id', 'n'], properties: { id: { type: 'string' }, n: { type: 'integer', minimum: 0 } } }
  it('is valid, or lists sorted violations', async () => {
    expect(await run('assert.schema', { value: { id: 'x', n: 1 }, schema })).toEqual({ ok: true, output: { valid: true, errors: [] } })
    const bad = await run('assert.schema', { value: { n: -1 }, schema })
    expect(bad.ok).toBe(false)
    expect(bad.output).toEqual({
      valid: false,
      errors: [
        { path: '/', message: "must have required property 'id'" },
        { path: '/n', message: 'must be >= 0' },
      ],
    })
  })
  it('an invalid schema is invalid_request', async () => {
    await expect(run('assert.schema', { value: 1, schema: { type: 'nonsense' } })).rejects.toMatchObject({ code: 'invalid_request' })
  })
})

describe('the action service', () => {
  it('gives byte-identical output for the same run twice, timing only when asked', async () => {
    const input = { value: { b: [3, 1], a: 'x' }, schema: { type: 'object', properties: { b: { type: 'array', items: { type: 'string' } } } } }
    const one = JSON.stringify(await run('assert.schema', input))
    expect(JSON.stringify(await run('assert.schema', input))).toBe(one)
    expect(one).not.toContain('durationMs')
    const timed = await svc.run(reader, { name: 'assert.equals', input: { actual: 1, expected: 1 }, timing: true })
    expect(typeof timed.durationMs).toBe('number')
  })
  it('an unknown action is not_found; a sandbox action needs sandboxId and sandboxes:write', async () => {
    await expect(run('no.such', {})).rejects.toMatchObject({ code: 'not_found' })
    await expect(run('exec', { cmd: 'true' })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('sandboxId') })
    await expect(svc.run(reader, { name: 'exec', sandboxId: 'sbx_aaaaaaaa', input: { cmd: 'true' }, timing: false })).rejects.toMatchObject({ code: 'policy_denied' })
  })
  it('lists every action sorted by name with JSON Schemas', () => {
    const names = svc.list().map((a) => a.name)
    expect(names).toEqual([...names].sort())
    expect(names).toEqual(expect.arrayContaining(['exec', 'assert.equals', 'assert.match', 'assert.schema', 'wait.for', 'files.mark', 'files.diff', 'logs.mark', 'logs.capture']))
    for (const a of svc.list()) expect(a.inputSchema.type).toBe('object')
  })
})
