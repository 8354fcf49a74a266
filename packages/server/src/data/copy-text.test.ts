import { describe, expect, it } from 'vitest'
import { arrayElement, decodeField, encodeField } from './copy-text.js'

describe('COPY text format', () => {
  it('round-trips values with escapes, and NULL', () => {
    for (const v of ['plain', 'tab\there', 'new\nline', 'back\\slash', 'cr\rbs\bff\fvt\v', '', 'ünïcødé ✓', null]) {
      expect(decodeField(encodeField(v))).toBe(v)
    }
    expect(encodeField(null)).toBe('\\N')
    expect(encodeField('a\tb')).toBe('a\\tb')
  })

  it('decodes octal and hex escapes PostgreSQL may write', () => {
    expect(decodeField('\\101\\x42C')).toBe('ABC')
  })

  it('quotes array elements', () => {
    expect(arrayElement('a"b\\c')).toBe('"a\\"b\\\\c"')
  })
})
