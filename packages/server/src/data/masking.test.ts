import { describe, expect, it } from 'vitest'
import { confirmedGrowth } from '../testing/growth.js'
import { globMatch, maskValue, resolveMasking } from './masking.js'
import type { SourceColumn, SourceTable } from './source.js'

const col = (name: string, o: Partial<SourceColumn> = {}): SourceColumn => ({ name, type: 'text', notNull: false, generated: false, category: 'S', maxLength: undefined, ...o })
let oid = 1
const table = (name: string, columns: SourceColumn[], o: Partial<SourceTable> = {}): SourceTable => ({
  oid: oid++,
  schema: 'public',
  name,
  relkind: 'r',
  estimate: 0,
  bytes: 0,
  rls: false,
  columns,
  primaryKey: ['id'],
  uniques: [['id']],
  fks: [],
  ...o,
})

const rules = (r: ReturnType<typeof resolveMasking>, t: SourceTable) => Object.fromEntries(r.plan.get(t.oid) ?? [])

describe('resolveMasking', () => {
  it('masks personal-looking columns by default, and only those', () => {
    const users = table('users', [
      col('id', { category: 'N', type: 'integer' }),
      col('email'),
      col('first_name'),
      col('last_name'),
      col('name'),
      col('phone'),
      col('street_address'),
      col('password_hash'),
      col('birth_date', { category: 'D', type: 'date' }),
      col('plan'),
    ])
    const products = table('products', [col('id', { category: 'N' }), col('name'), col('description')])
    const r = resolveMasking([users, products], { defaults: true, rules: [] })
    expect(rules(r, users)).toEqual({
      email: 'email',
      first_name: 'first_name',
      last_name: 'last_name',
      name: 'name',
      phone: 'phone',
      street_address: 'redact',
      password_hash: 'hash',
      birth_date: 'null',
    })
    expect(rules(r, products)).toEqual({}) // a product's name is not a person's
  })

  it('lets explicit rules win (first match), with table and schema patterns and wildcards', () => {
    const users = table('users', [col('id', { category: 'N' }), col('email'), col('notes'), col('bio')])
    const r = resolveMasking([users], {
      defaults: true,
      rules: [
        { column: 'users.email', rule: 'keep' },
        { column: 'public.users.notes', rule: 'null' },
        { column: 'b*', rule: 'hash' },
        { column: 'nothing.here', rule: 'hash' },
      ],
    })
    expect(rules(r, users)).toEqual({ notes: 'null', bio: 'hash' })
    expect(r.warnings.some((w) => w.includes('"nothing.here" matched no column'))).toBe(true)
  })

  it('adapts defaults to constraints: NOT NULL gets redact, unique gets hash, non-text nullable gets null', () => {
    const t = table(
      'customers',
      [col('id', { category: 'N' }), col('address_line', { notNull: true }), col('username'), col('dob', { category: 'D' }), col('last_ip', { category: 'I', notNull: true })],
      { uniques: [['id'], ['username']] },
    )
    const r = resolveMasking([t], { defaults: true, rules: [] })
    expect(rules(r, t)).toEqual({ address_line: 'redact', username: 'hash', dob: 'null' })
    expect(r.warnings.some((w) => w.includes('last_ip'))).toBe(true)
  })

  it('refuses explicit rules that cannot fit, naming column and fix', () => {
    const t = table('t', [col('id', { category: 'N', type: 'integer', notNull: true }), col('code', { notNull: true }), col('ref')], { uniques: [['id'], ['ref']] })
    expect(() => resolveMasking([t], { defaults: false, rules: [{ column: 'id', rule: 'email' }] })).toThrow(/public\.t\.id is integer; rule email applies to text columns only/)
    expect(() => resolveMasking([t], { defaults: false, rules: [{ column: 'code', rule: 'null' }] })).toThrow(/NOT NULL; rule null cannot apply/)
    expect(() => resolveMasking([t], { defaults: false, rules: [{ column: 'ref', rule: 'redact' }] })).toThrow(/is unique; rule redact would collide/)
  })

  it('keeps foreign keys whole: a child key follows its parent, a conflicting explicit rule is refused', () => {
    const users = table('users', [col('email', { notNull: true })], { primaryKey: ['email'], uniques: [['email']] })
    const orders = table('orders', [col('id', { category: 'N' }), col('buyer')], { fks: [{ name: 'orders_buyer_fkey', columns: ['buyer'], refOid: users.oid, refColumns: ['email'] }] })
    const r = resolveMasking([users, orders], { defaults: true, rules: [] })
    expect(rules(r, users)).toEqual({ email: 'email' })
    expect(rules(r, orders)).toEqual({ buyer: 'email' })
    expect(() => resolveMasking([users, orders], { defaults: true, rules: [{ column: 'orders.buyer', rule: 'hash' }] })).toThrow(/orders_buyer_fkey; mask both with the same rule/)
  })
})

describe('maskValue', () => {
  const salt = 'k'.repeat(64)
  it('is deterministic per salt and value, and never returns the input', () => {
    for (const rule of ['email', 'name', 'first_name', 'last_name', 'phone', 'hash'] as const) {
      const a = maskValue(rule, 'ada@example.org', salt, { unique: false })
      expect(a).toBe(maskValue(rule, 'ada@example.org', salt, { unique: false }))
      expect(a).not.toBe('ada@example.org')
      expect(maskValue(rule, 'ada@example.org', 'other', { unique: false })).not.toBe(a)
    }
    expect(maskValue('email', 'x', salt, { unique: false })).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.com$/)
    expect(maskValue('phone', 'x', salt, { unique: false })).toMatch(/^\+1-555-\d{3}-\d{4}$/)
    expect(maskValue('null', 'x', salt, { unique: false })).toBeNull()
    expect(maskValue('redact', 'x', salt, { unique: false })).toBe('redacted')
    expect(maskValue('email', null, salt, { unique: false })).toBeNull()
  })

  it('keeps unique columns unique and fits varchar limits', () => {
    const names = new Set(Array.from({ length: 2000 }, (_, i) => maskValue('first_name', `p${i}`, salt, { unique: true })))
    expect(names.size).toBe(2000)
    expect(maskValue('email', 'someone', salt, { unique: true, maxLength: 24 })!.length).toBeLessThanOrEqual(24)
    expect(maskValue('hash', 'someone', salt, { unique: true, maxLength: 8 })).toHaveLength(8)
  })
})

describe('globMatch (rule column patterns)', () => {
  /** The RegExp the matcher used to build from a rule (commit b92cdb7): the reference on short names. */
  const before = (glob: string, name: string) =>
    new RegExp(
      `^${glob
        .split('*')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(name)

  it('matches exactly what the built RegExp matched (20 000 random globs and names)', () => {
    let seed = 3
    const rnd = (k: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % k
    }
    const pick = (alphabet: string, max: number) => Array.from({ length: rnd(max) }, () => alphabet[rnd(alphabet.length)]).join('')
    const differ: string[] = []
    for (let i = 0; i < 20_000; i++) {
      const glob = pick('ab*_+(', 7)
      const name = pick('ab_+(', 9)
      if (globMatch(glob, name) !== before(glob, name)) differ.push(`${glob} ~ ${name}`)
    }
    expect(differ.slice(0, 5)).toEqual([])
  })

  it('costs time linear in the name even with many stars (the RegExp grew with a power of the stars)', () => {
    const g = confirmedGrowth(
      (n) => 'a'.repeat(n),
      (name) => globMatch('*a*a*a*a*a*b', name),
      256,
    )
    expect(g).toMatchObject({ linear: true })
  })
})
