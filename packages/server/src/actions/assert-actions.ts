/** @module actions/assert-actions — assert.equals, assert.match and assert.schema: pure checks, no sandbox. */
import { Ajv, type ErrorObject } from 'ajv'
import { z } from 'zod'
import { AppError } from '../core/errors.js'
import { defineAction } from './action.js'
import { allowedFlags, linearRegex, maxPatternChars } from './linear-regex.js'
import { byCodeUnits } from './stable.js'

/** Largest string assert.match scans (the linear engine makes the cost proportional to it). */
export const maxSubjectChars = 1024 * 1024
const maxReportedErrors = 20

export const assertEquals = defineAction({
  name: 'assert.equals',
  summary: 'Deep equality of two JSON values (object key order does not matter); reports the first differing path',
  needsSandbox: false,
  readOnly: true,
  timeoutMs: 5_000,
  input: z.object({ actual: z.unknown().describe('The value observed.'), expected: z.unknown().describe('The value wanted.') }).strict(),
  output: z.object({ equal: z.boolean(), firstDifference: z.string().optional().describe('JSON path of the first difference, e.g. $.items[2].id.') }),
  run: async (i) => {
    const path = firstDifference(i.actual, i.expected, '$')
    return { ok: path === undefined, output: path === undefined ? { equal: true } : { equal: false, firstDifference: path } }
  },
})

/** The path of the first place where `a` and `b` differ (keys visited in sorted order), or undefined. */
export function firstDifference(a: unknown, b: unknown, path: string, depth = 0): string | undefined {
  if (depth > 64) return path
  if (a === b) return undefined
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return Number.isNaN(a) && Number.isNaN(b) ? undefined : path
  if (Array.isArray(a) !== Array.isArray(b)) return path
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    for (let k = 0; k < Math.min(a.length, bb.length); k++) {
      const d = firstDifference(a[k], bb[k], `${path}[${k}]`, depth + 1)
      if (d) return d
    }
    return a.length === bb.length ? undefined : `${path}[${Math.min(a.length, bb.length)}]`
  }
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort(byCodeUnits)
  for (const key of keys) {
    const sub = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`
    if (Object.hasOwn(ra, key) !== Object.hasOwn(rb, key)) return sub
    const d = firstDifference(ra[key], rb[key], sub, depth + 1)
    if (d) return d
  }
  return undefined
}

export const assertMatch = defineAction({
  name: 'assert.match',
  summary: 'A string matches a regular expression (run by a linear-time engine: no backreferences or lookaround)',
  needsSandbox: false,
  readOnly: true,
  timeoutMs: 5_000,
  input: z
    .object({
      value: z.string().max(maxSubjectChars).describe('The text to search.'),
      pattern: z.string().min(1).max(maxPatternChars).describe('ECMAScript regular expression source, without slashes.'),
      flags: z.array(z.enum(allowedFlags)).max(allowedFlags.length).default([]),
    })
    .strict(),
  output: z.object({ matched: z.boolean(), match: z.string().optional(), index: z.number().int().optional(), groups: z.array(z.string().nullable()).optional() }),
  run: async (i) => {
    const m = linearRegex(i.pattern, i.flags).exec(i.value)
    if (!m) return { ok: false, output: { matched: false } }
    return { ok: true, output: { matched: true, match: m[0], index: m.index, groups: m.slice(1).map((g) => g ?? null) } }
  },
})

export const assertSchema = defineAction({
  name: 'assert.schema',
  summary: 'A JSON value is valid against a JSON Schema (ajv, draft-07 / 2019-09 keywords); lists the violations',
  needsSandbox: false,
  readOnly: true,
  timeoutMs: 5_000,
  input: z.object({ value: z.unknown().describe('The value to check.'), schema: z.record(z.string(), z.unknown()).describe('A JSON Schema object.') }).strict(),
  output: z.object({ valid: z.boolean(), errors: z.array(z.object({ path: z.string(), message: z.string() })) }),
  run: async (i) => {
    // A fresh validator per run: schemas from input never accumulate in a shared cache, and $ref can
    // only point inside the schema (no loadSchema: nothing is fetched).
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false })
    let validate
    try {
      validate = ajv.compile(i.schema)
    } catch (err) {
      throw new AppError('invalid_request', `schema: not a valid JSON Schema: ${(err as Error).message}`, [{ path: 'schema', message: (err as Error).message }])
    }
    const valid = validate(i.value) as boolean
    const errors = (validate.errors ?? []).slice(0, maxReportedErrors).map(describeError)
    errors.sort((a, b) => byCodeUnits(a.path, b.path) || byCodeUnits(a.message, b.message))
    return { ok: valid, output: { valid, errors } }
  },
})

function describeError(e: ErrorObject): { path: string; message: string } {
  return { path: e.instancePath || '/', message: `${e.message ?? e.keyword}` }
}
