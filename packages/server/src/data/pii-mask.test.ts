import { describe, expect, it } from 'vitest'
import { maskValue } from './masking.js'
import { charReads } from '../testing/char-reads.js'
import { detectPii, ibanMod97, luhnValid } from './pii-detect.js'
import { ContentMasker, zeroCounts } from './pii-mask.js'

const names = new Map<string, 'first' | 'last'>([
  ['alice', 'first'],
  ['smith', 'last'],
])
const m = new ContentMasker('salt-1', names)
const note = 'Call Alice Smith on +44 20 7946 0958 or (555) 123-4567, mail alice@corp.example.com; card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00. Thanks!'
const originals = ['Alice', 'Smith', '+44 20 7946 0958', '(555) 123-4567', 'alice@corp.example.com', '4111 1111 1111 1111', 'DE89 3704 0044 0532 0130 00']

describe('ContentMasker.maskText', () => {
  it('replaces only the detected spans and keeps the text around them', () => {
    const counts = zeroCounts()
    const out = m.maskText(note, counts)
    for (const o of originals) expect(out).not.toContain(o)
    expect(out.startsWith('Call ')).toBe(true)
    expect(out).toContain(' on +')
    expect(out).toContain(' or (')
    expect(out).toContain(', mail ')
    expect(out.endsWith('. Thanks!')).toBe(true)
    expect(counts).toEqual({ email: 1, phone: 2, card: 1, iban: 1, name: 2 })
  })

  it('is deterministic per salt, and differs between salts', () => {
    expect(m.maskText(note)).toBe(m.maskText(note))
    expect(new ContentMasker('salt-2', names).maskText(note)).not.toBe(m.maskText(note))
  })

  it('keeps the format of each kind: an email, a phone of the same shape, a Luhn card, a valid IBAN', () => {
    const out = m.maskText(note)
    const kinds = detectPii(out, new Map()).map((s) => [s.kind, out.slice(s.start, s.end)] as const)
    const of = (k: string) => kinds.filter(([kind]) => kind === k).map(([, t]) => t)
    expect(of('email')).toEqual([maskValue('email', 'alice@corp.example.com', 'salt-1', { unique: false })])
    const [intl, national] = of('phone')
    expect(intl!.replace(/\d/g, '9')).toBe('+99 99 9999 9999')
    expect(national!.replace(/\d/g, '9')).toBe('(999) 999-9999')
    const [card] = of('card')
    expect(card!.replace(/\d/g, '9')).toBe('9999 9999 9999 9999')
    expect(card![0]).toBe('4') // the network digit stays
    expect(luhnValid(card!.replace(/ /g, ''))).toBe(true)
    const [iban] = of('iban')
    expect(iban!.slice(0, 2)).toBe('DE')
    expect(iban!.replace(/\d/g, '9')).toBe('DE99 9999 9999 9999 9999 99')
    expect(ibanMod97(iban!.replace(/ /g, ''))).toBe(1)
  })

  it('masks a name in text like the column masker masks that name', () => {
    const out = m.maskText('Alice')
    expect(out).toBe(maskValue('first_name', 'Alice', 'salt-1', { unique: false }))
    expect(m.maskText('SMITH')).toBe(maskValue('last_name', 'SMITH', 'salt-1', { unique: false })!.toUpperCase())
  })

  it('returns text without personal data unchanged (the same string)', () => {
    const plain = 'order 1234 shipped on 2024-01-15, ref 4111111111111112'
    expect(m.maskText(plain)).toBe(plain)
  })
})

describe('ContentMasker.maskJson', () => {
  it('masks string values at any depth, keeps keys, numbers and layout', () => {
    const doc = '{"contact": {"email": "bob@corp.example.com", "alice@keys.example.com": 1}, "notes": ["call +1 202 555 0143", 12345678901234567890], "n": 3.5, "ok": true}'
    const counts = zeroCounts()
    const out = m.maskJson(doc, counts)
    expect(out).not.toContain('bob@corp.example.com')
    expect(out).not.toContain('202 555 0143')
    expect(out).toContain('"alice@keys.example.com": 1') // a key is kept
    expect(out).toContain('12345678901234567890') // not Luhn: a number like any other, every digit kept
    expect(out).toContain('"n": 3.5, "ok": true}')
    expect(counts).toMatchObject({ email: 1, phone: 1 })
    const parsed = JSON.parse(out) as { contact: { email: string }; notes: string[] }
    expect(parsed.contact.email).toMatch(/@example\.com$/)
    expect(parsed.notes[0]).toMatch(/^call \+\d \d{3} \d{3} \d{4}$/)
  })

  it('masks escaped strings and card numbers written as JSON numbers', () => {
    const doc = '{"memo":"line1\\nAlice \\"Smith\\" paid","pan":4111111111111111,"amount":4111111111111111.5}'
    const out = m.maskJson(doc)
    const parsed = JSON.parse(out) as { memo: string; pan: number; amount: number }
    expect(parsed.memo).toMatch(/^line1\n\S+ "\S+" paid$/)
    expect(parsed.memo).not.toContain('Alice')
    expect(String(parsed.pan)).not.toBe('4111111111111111')
    expect(out).toMatch(/"pan":4\d{15},/)
    expect(out).toContain('"amount":4111111111111111.5') // a fraction is not a card
  })

  it('masks text that is not JSON as plain text', () => {
    expect(m.maskJson('{"broken": "alice@corp.example.com')).not.toContain('alice@corp.example.com')
  })

  it('is linear on long and adversarial documents', () => {
    const cases: ((n: number) => string)[] = [(n) => `[${'"a@b.co",'.repeat(n)}1]`, (n) => `"${'\\"'.repeat(n)}"`, (n) => `{${'"k": 4111111111111111, '.repeat(n)}"z": 0}`, (n) => '"'.repeat(n)]
    for (const make of cases) {
      const a = charReads(() => m.maskJson(make(500)))
      const b = charReads(() => m.maskJson(make(8000)))
      expect(b / a, `${make(2)}: ${a} → ${b} reads`).toBeLessThan(16 * 1.1)
    }
  })
})
