import type { z } from 'zod'
import { describe, expect, it } from 'vitest'
import { operations } from './operations.js'

/** Limits the walk; the contract has no recursive schemas, so this only guards the test. */
const maxDepth = 20

interface Def {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  out?: z.ZodType
  element?: z.ZodType
  shape?: Record<string, z.ZodType>
  options?: z.ZodType[]
  keyType?: z.ZodType
  valueType?: z.ZodType
  catchall?: z.ZodType
  left?: z.ZodType
  right?: z.ZodType
  checks?: { _zod: { def: { check: string; maximum?: number; length?: number; value?: number } } }[]
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod

/** The bounds a schema's own checks set (zod 4 keeps them as check objects on the definition). */
function bounds(def: Def): { maxLength?: number; min?: number; max?: number } {
  const out: { maxLength?: number; min?: number; max?: number } = {}
  for (const c of def.checks ?? []) {
    const d = c._zod.def
    if (d.check === 'max_length' && d.maximum !== undefined) out.maxLength = Math.min(out.maxLength ?? Infinity, d.maximum)
    if (d.check === 'length_equals' && d.length !== undefined) out.maxLength = Math.min(out.maxLength ?? Infinity, d.length)
    if (d.check === 'less_than' && d.value !== undefined) out.max = Math.min(out.max ?? Infinity, d.value)
    if (d.check === 'greater_than' && d.value !== undefined) out.min = Math.max(out.min ?? -Infinity, d.value)
  }
  return out
}

/** Every place in an input schema that takes unbounded input: a string, array or record without a maximum, a number without both ends. */
export function unbounded(schema: z.ZodType, path: string, out: string[] = [], depth = 0): string[] {
  if (depth > maxDepth) return out
  const { def } = defOf(schema)
  const bag = bounds(def)
  const next = (s: z.ZodType | undefined, p = path) => s && unbounded(s, p, out, depth + 1)
  switch (def.type) {
    case 'string':
      if (bag.maxLength === undefined) out.push(`${path}: string without .max()`)
      break
    case 'number': {
      if (bag.max === undefined || bag.min === undefined) out.push(`${path}: number without .min() and .max()`)
      break
    }
    case 'array':
      if (bag.maxLength === undefined) out.push(`${path}: array without .max()`)
      next(def.element, `${path}[]`)
      break
    case 'object':
      for (const [k, v] of Object.entries(def.shape ?? {})) next(v, path ? `${path}.${k}` : k)
      if (def.catchall && defOf(def.catchall).def.type !== 'never') next(def.catchall, `${path}.*`)
      break
    case 'record': {
      // A record has no .max() in zod: its bound is a check, so ask it: 100 000 well-formed entries must fail at the record itself.
      const big = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v']))
      const r = schema.safeParse(big)
      if (r.success || !r.error.issues.some((i) => i.path.length === 0)) out.push(`${path}: record without a bound on its entries`)
      next(def.keyType, `${path}{key}`)
      next(def.valueType, `${path}{}`)
      break
    }
    case 'union':
      for (const o of def.options ?? []) next(o)
      break
    case 'intersection':
      next(def.left)
      next(def.right)
      break
    case 'pipe':
      next(def.in)
      break
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      next(def.innerType)
      break
    case 'enum':
    case 'literal':
    case 'boolean':
    case 'null':
    case 'undefined':
    case 'never':
    case 'date':
      break
    case 'unknown':
    case 'any': {
      // Free-form JSON is bounded by a check of its own: a megabyte of it must fail at the value itself.
      const r = schema.safeParse('x'.repeat(1 << 20))
      if (r.success || !r.error.issues.some((i) => i.path.length === 0)) out.push(`${path}: ${def.type} without a bound on its size`)
      break
    }
    case 'custom':
      // Raw bytes (file content): bounded where the body is read (the HTTP edge), not by the schema.
      break
    default:
      out.push(`${path}: ${def.type} (the walk does not know it; bound it or teach the walk)`)
  }
  return out
}

describe('every field of every operation input', () => {
  it('is bounded before any work: strings, arrays and records have a maximum, numbers both ends', () => {
    const problems = Object.entries(operations).flatMap(([name, op]) => unbounded(op.input, '').map((p) => `${name}.${p}`))
    expect(problems).toEqual([])
  })
})

describe('the walk', () => {
  it('finds each kind of unbounded field, and passes bounded ones', async () => {
    const { z } = await import('zod')
    const { boundedJson, boundedRecord } = await import('./common.js')
    const loose = z.object({
      s: z.string(),
      n: z.number().min(0),
      a: z.array(z.string().max(1)),
      r: z.record(z.string().max(1), z.string().max(1)),
      u: z.unknown(),
      c: z.object({}).catchall(z.string()),
    })
    expect(unbounded(loose, '')).toEqual([
      's: string without .max()',
      'n: number without .min() and .max()',
      'a: array without .max()',
      'r: record without a bound on its entries',
      'u: unknown without a bound on its size',
      'c.*: string without .max()',
    ])
    const tight = z.object({
      s: z.string().max(8),
      n: z.number().min(0).max(1),
      a: z.array(z.string().max(1)).max(2),
      r: boundedRecord(z.string().max(8), z.object({ x: z.number().min(0).max(1) }), 4, 'entries'),
      u: boundedJson(1024),
    })
    expect(unbounded(tight, '')).toEqual([])
  })
})

describe('a violated bound', () => {
  it('says the field, the rule and the limit', async () => {
    const { CreateTokenInput } = await import('./auth.js')
    const r = CreateTokenInput.safeParse({ project: 'p', scopes: ['admin'], name: 'n'.repeat(129) })
    expect(r.success).toBe(false)
    const issue = r.error!.issues[0]!
    expect(issue.path).toEqual(['name'])
    expect(issue.message).toMatch(/<=128 characters/)
  })

  it('refuses an oversized record by its count even when its entries are invalid too', async () => {
    const { Metadata } = await import('./common.js')
    const r = Metadata.safeParse(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 7])))
    expect(r.success).toBe(false)
    expect(r.error!.issues.some((i) => i.path.length === 0 && i.message === 'at most 32 metadata keys')).toBe(true)
  })

  it('bounds free-form JSON by size and depth, and takes what fits', async () => {
    const { boundedJson } = await import('./common.js')
    const j = boundedJson(100)
    expect(j.safeParse({ a: [1, 'two', null, { b: true }] }).success).toBe(true)
    expect(j.safeParse({ a: 'x'.repeat(100) }).success).toBe(false)
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    expect(j.safeParse(deep).success).toBe(false)
    expect(j.safeParse(10n).success).toBe(false)
  })
})

describe('masking column patterns', () => {
  it('take one to three non-empty dot-separated parts; more, or an empty one, is refused', async () => {
    const { MaskRule } = await import('./data.js')
    for (const column of ['email', 'users.email', 'public.users.*_name']) expect(MaskRule.safeParse({ column, rule: 'redact' }).success, column).toBe(true)
    for (const column of ['a.b.c.d', 'users.', '.email', 'a..b']) {
      const r = MaskRule.safeParse({ column, rule: 'redact' })
      expect(r.success, column).toBe(false)
      expect(r.error?.issues[0]?.message).toMatch(/one to three non-empty parts/)
    }
  })
})
