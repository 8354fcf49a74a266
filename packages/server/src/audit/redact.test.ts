import { describe, expect, it } from 'vitest'
import { confirmedGrowth } from '../testing/growth.js'
import { AUDIT_MAX_DEPTH, AUDIT_MAX_ITEMS, AUDIT_MAX_STRING, redactForAudit, redactUrlPasswords } from './redact.js'

describe('redactForAudit', () => {
  it('hides env values, stdin and tokens but keeps the keys', () => {
    expect(redactForAudit({ envs: { A: 'secret' }, stdin: 'pw', token: 'tp_x', cmd: ['ls'] })).toEqual({ envs: { A: '[redacted]' }, stdin: '[redacted]', token: '[redacted]', cmd: ['ls'] })
  })
  it('hides passwords inside URLs, anywhere', () => {
    expect(redactForAudit({ url: 'postgresql://reader:s3cr3t@db:5432/shop', list: ['https://u:p@x/y'] })).toEqual({ url: 'postgresql://reader:***@db:5432/shop', list: ['https://u:***@x/y'] })
  })
  it('replaces raw bytes by their length', () => {
    expect(redactForAudit({ content: new Uint8Array(5) })).toEqual({ content: { bytes: 5 } })
  })
})

describe('redactForAudit on hostile input', () => {
  /** The pattern the scan replaced (commit b92cdb7): the reference on short strings, where its cost is harmless. */
  const before = (s: string) => s.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi, '$1***@')

  it('hides URL passwords exactly where the old pattern did (50 000 random strings)', () => {
    const pieces = ['a', 'Z', '0', '+', '.', '-', ':', '/', '://', '@', ' ', '\t', '\u00a0', '\u2028', 'pg', 'u:', 'p@', 'é', '_']
    let seed = 11
    const rnd = (k: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % k
    }
    const differ: string[] = []
    for (let i = 0; i < 50_000; i++) {
      let s = ''
      for (let j = rnd(16); j >= 0; j--) s += pieces[rnd(pieces.length)]
      if (redactUrlPasswords(s) !== before(s)) differ.push(s)
    }
    expect(differ.slice(0, 5)).toEqual([])
  })

  it('costs time linear in the input: 16x more characters take well under 40x as long', () => {
    for (const make of [(n: number) => 'a'.repeat(n), (n: number) => 'a://b:'.repeat(n / 6), (n: number) => `a://b:${'x://'.repeat(n / 4)}`, (n: number) => 'a://'.repeat(n / 4)]) {
      const g = confirmedGrowth(make, (s) => redactForAudit({ cmd: s, list: [s] }), 4096)
      expect(g, JSON.stringify(make(12))).toMatchObject({ linear: true })
    }
  })

  it('keeps a long string as its head and its length, redacting before it cuts', () => {
    const long = 'x'.repeat(5000)
    expect(redactForAudit({ cmd: long })).toEqual({ cmd: `${'x'.repeat(AUDIT_MAX_STRING)}…[5000 chars]` })
    expect(redactForAudit({ url: `postgres://u:${'p'.repeat(5000)}@h/db` })).toEqual({ url: 'postgres://u:***@h/db' })
    const cut = redactForAudit({ url: `${'y'.repeat(AUDIT_MAX_STRING - 20)} postgres://u:${'s'.repeat(40)}@h` }) as { url: string }
    expect(cut.url).not.toContain('sss')
  })

  it('keeps at most 64 items, 64 keys and 8 levels, and counts the rest', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `v${i}`)
    const out = redactForAudit({ cmd: many, envs: Object.fromEntries(many.map((k) => [k, 'secret'])) }) as { cmd: string[]; envs: Record<string, string> }
    expect(out.cmd).toHaveLength(AUDIT_MAX_ITEMS + 1)
    expect(out.cmd.at(-1)).toBe(`[${10_000 - AUDIT_MAX_ITEMS} more items]`)
    expect(Object.keys(out.envs)).toHaveLength(AUDIT_MAX_ITEMS + 1)
    expect(Object.values(out.envs).every((v) => v === '[redacted]' || v === `[${10_000 - AUDIT_MAX_ITEMS} more keys]`)).toBe(true)
    let deep: unknown = 'bottom'
    for (let i = 0; i < 100_000; i++) deep = { d: deep } // would overflow the stack if walked to the bottom
    let kept = redactForAudit(deep)
    let depth = 0
    while (kept && typeof kept === 'object') {
      kept = (kept as { d: unknown }).d
      depth++
    }
    expect([depth, kept]).toEqual([AUDIT_MAX_DEPTH, '[nested]'])
  })
})
