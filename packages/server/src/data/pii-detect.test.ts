import { describe, expect, it } from 'vitest'
import { charReads } from '../testing/char-reads.js'
import { detectPii, ibanMod97, luhnValid, nameWords, type NameBook } from './pii-detect.js'

/** The detected texts of `s`, as [kind, text] pairs. */
const found = (s: string, names?: NameBook) => detectPii(s, names).map((sp) => [sp.kind, s.slice(sp.start, sp.end)])

describe('checksums', () => {
  it('Luhn accepts valid card numbers and refuses one digit off', () => {
    expect(luhnValid('4111111111111111')).toBe(true)
    expect(luhnValid('5555555555554444')).toBe(true)
    expect(luhnValid('378282246310005')).toBe(true)
    expect(luhnValid('4111111111111112')).toBe(false)
  })
  it('IBAN mod 97 is 1 for valid IBANs only', () => {
    expect(ibanMod97('DE89370400440532013000')).toBe(1)
    expect(ibanMod97('GB82WEST12345698765432')).toBe(1)
    expect(ibanMod97('DE89370400440532013001')).not.toBe(1)
  })
})

describe('emails', () => {
  it('finds addresses in text, without the sentence punctuation around them', () => {
    expect(found('write to alice.smith+work@mail.example.org, or <bob@x.io>.')).toEqual([
      ['email', 'alice.smith+work@mail.example.org'],
      ['email', 'bob@x.io'],
    ])
  })
  it('leaves quotes and brackets around an address to the text', () => {
    expect(found("said 'carol@corp.example.com' and {dave@x.io}")).toEqual([
      ['email', 'carol@corp.example.com'],
      ['email', 'dave@x.io'],
    ])
  })
  it('refuses what is not an address', () => {
    expect(found('meet @ noon; user@localhost; a@b.c; x@.com; @handle; foo@bar..com')).toEqual([])
  })
  it('finds one address in chained @ without overlapping', () => {
    expect(found('a@b.com@c.org')).toEqual([['email', 'a@b.com']])
  })
})

describe('phone numbers', () => {
  it('finds E.164 and common national formats', () => {
    expect(found('call +44 20 7946 0958 now')).toEqual([['phone', '+44 20 7946 0958']])
    expect(found('+15551234567')).toEqual([['phone', '+15551234567']])
    expect(found('office (555) 123-4567.')).toEqual([['phone', '(555) 123-4567']])
    expect(found('cell 555.123.4567')).toEqual([['phone', '555.123.4567']])
    expect(found('tel: 06 12 34 56 78')).toEqual([['phone', '06 12 34 56 78']])
    expect(found('+1 (202) 555-0143')).toEqual([['phone', '+1 (202) 555-0143']])
    expect(found('UK 020 7946 0958, US 1-800-555-0199')).toEqual([
      ['phone', '020 7946 0958'],
      ['phone', '1-800-555-0199'],
    ])
  })
  it('leaves dates, versions, addresses, ids and plain integers alone', () => {
    expect(found('on 2024-01-15 at 10:30, v1.2.3, 192.168.1.10, order 1234567890, INV-2024-000123, 3.14159, id A12345678901, 12/05/2024')).toEqual([])
  })
})

describe('card numbers', () => {
  it('finds Luhn-valid numbers of 13 to 19 digits, grouped or not', () => {
    expect(found('card 4111 1111 1111 1111 exp 12/29')).toEqual([['card', '4111 1111 1111 1111']])
    expect(found('paid with 5555-5555-5555-4444.')).toEqual([['card', '5555-5555-5555-4444']])
    expect(found('amex 378282246310005')).toEqual([['card', '378282246310005']])
  })
  it('refuses a 16-digit number that fails Luhn, and one glued to letters', () => {
    expect(found('ref 4111 1111 1111 1112 and 4111111111111112')).toEqual([])
    expect(found('tx4111111111111111')).toEqual([])
  })
})

describe('IBANs', () => {
  it('finds IBANs with a valid mod-97 checksum, compact or grouped', () => {
    expect(found('pay DE89 3704 0044 0532 0130 00 today')).toEqual([['iban', 'DE89 3704 0044 0532 0130 00']])
    expect(found('iban: GB82WEST12345698765432.')).toEqual([['iban', 'GB82WEST12345698765432']])
  })
  it('refuses a bad checksum, an unknown country, the wrong length, and does not read its digits as a card', () => {
    expect(found('DE89 3704 0044 0532 0130 01')).toEqual([])
    expect(found('DE89370400440532013001')).toEqual([])
    expect(found('ZZ89370400440532013000')).toEqual([])
    expect(found('DE8937040044053201300')).toEqual([])
  })
})

describe('names', () => {
  const book: NameBook = new Map([
    ['alice', 'first'],
    ['smith', 'last'],
    ['zoë', 'first'],
  ])
  it('finds capitalised words that are values of masked name columns', () => {
    expect(found('call Alice Smith (ALICE) about Zoë', book)).toEqual([
      ['name', 'Alice'],
      ['name', 'Smith'],
      ['name', 'ALICE'],
      ['name', 'Zoë'],
    ])
  })
  it('leaves lower-case words, parts of words and unknown names alone', () => {
    expect(found('smith works; Smithson; Alice2; Bob', book)).toEqual([])
  })
  it('splits name values into words', () => {
    expect(nameWords("Mary-Jane O'Neil  x")).toEqual(['mary', 'jane', 'neil'])
  })
})

describe('mixed text', () => {
  it('finds each kind once, in order, and none inside an email', () => {
    const s = 'Alice (alice.5551234567@corp.com, +1 202 555 0143) paid 4111-1111-1111-1111 from DE89370400440532013000'
    expect(found(s, new Map([['alice', 'first']]))).toEqual([
      ['name', 'Alice'],
      ['email', 'alice.5551234567@corp.com'],
      ['phone', '+1 202 555 0143'],
      ['card', '4111-1111-1111-1111'],
      ['iban', 'DE89370400440532013000'],
    ])
  })
})

describe('linear time on adversarial input', () => {
  const book: NameBook = new Map([['alice', 'first']])
  const cases: [string, (n: number) => string][] = [
    ['@ after long local parts', (n) => 'a'.repeat(n) + '@'],
    ['many @', (n) => 'a@'.repeat(n)],
    ['long domains without a dot', (n) => `x@${'a'.repeat(n)}`],
    ['dotted runs around @', (n) => `${'a.'.repeat(n)}@${'b.'.repeat(n)}`],
    ['@ between dotted runs', (n) => 'a.b@c.d'.repeat(n)],
    ['digit groups', (n) => '1 '.repeat(n)],
    ['dashed digits', (n) => '12-'.repeat(n)],
    ['long digit run', (n) => '4'.repeat(n)],
    ['card-sized groups', (n) => '4111 '.repeat(n)],
    ['plus and parens', (n) => '+('.repeat(n) + '1'],
    ['IBAN prefixes', (n) => 'DE89 '.repeat(n)],
    ['IBAN-shaped words', (n) => 'DE00AAAA '.repeat(n)],
    ['capitalised words', (n) => 'Alice Bob '.repeat(n)],
    ['one long word', (n) => 'A'.repeat(n)],
    ['non-Latin letters', (n) => 'Ωмα'.repeat(n)],
  ]
  for (const [label, make] of cases) {
    it(`${label}: reads per character stay bounded as the input grows 16×`, () => {
      const small = make(1000)
      const large = make(16_000)
      const a = charReads(() => detectPii(small, book))
      const b = charReads(() => detectPii(large, book))
      // Linear: 16× the input costs at most ~16× the reads (plus slack for the ends), and a constant number of
      // reads a character (windows over digit groups are at most 19 digits: worst ~100 on one-digit groups).
      expect(b / a, `${label}: ${a} → ${b} reads`).toBeLessThan(16 * 1.1)
      expect(b / large.length).toBeLessThan(128)
    })
  }
})
