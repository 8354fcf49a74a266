/**
 * @module data/pii-mask — masks the personal data found by content inside a text or a JSON value: only
 * the detected spans change, each into a deterministic fake of the same kind keyed by the mirror's salt
 * (the same input masks the same way in every row, table and refresh, like the column maskers).
 */
import { createHmac } from 'node:crypto'
import { maskValue } from './masking.js'
import { detectPii, ibanMod97, luhnValid, type NameBook, type PiiKind, type PiiSpan } from './pii-detect.js'

export type PiiCounts = Record<PiiKind, number>
export const zeroCounts = (): PiiCounts => ({ email: 0, phone: 0, card: 0, iban: 0, name: 0 })

const isDigitCode = (c: number) => c >= 48 && c <= 57
const isLetterCode = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

export class ContentMasker {
  readonly #salt: string
  readonly #names: NameBook
  /** Fakes already made (kind + original → fake): the same address or name recurs across rows; HMACs are not free. */
  readonly #fakes = new Map<string, string>()

  constructor(salt: string, names: NameBook) {
    this.#salt = salt
    this.#names = names
  }

  /** `text` with every detected span replaced; `counts` gets one per span. Unchanged text is returned as is. */
  maskText(text: string, counts?: PiiCounts): string {
    const spans = detectPii(text, this.#names)
    if (spans.length === 0) return text
    let out = ''
    let at = 0
    for (const sp of spans) {
      out += text.slice(at, sp.start) + this.#fake(text.slice(sp.start, sp.end), sp)
      at = sp.end
      if (counts) counts[sp.kind]++
    }
    return out + text.slice(at)
  }

  /**
   * A JSON document with its string values masked (keys kept) and integer values that are card numbers
   * masked; numbers, structure and spacing are copied as written, so nothing is re-serialised (a JSON
   * number of 20 digits keeps every digit). One pass over the text: strings are found by their quotes.
   * Text that is not JSON (cannot happen for json/jsonb columns) is masked as plain text.
   */
  maskJson(text: string, counts?: PiiCounts): string {
    let out = ''
    let at = 0
    let i = 0
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 34 /* " */) {
        let j = i + 1
        let escaped = false
        while (j < text.length && text.charCodeAt(j) !== 34) j += text.charCodeAt(j) === 92 ? ((escaped = true), 2) : 1
        if (j >= text.length) return this.maskText(text, counts)
        let k = j + 1
        while (k < text.length && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 10 || text.charCodeAt(k) === 13 || text.charCodeAt(k) === 9)) k++
        const isKey = text.charCodeAt(k) === 58 /* : */
        if (!isKey) {
          const raw = text.slice(i, j + 1)
          let value: string
          try {
            value = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1)
          } catch {
            return this.maskText(text, counts)
          }
          const masked = this.maskText(value, counts)
          if (masked !== value) {
            out += text.slice(at, i) + JSON.stringify(masked)
            at = j + 1
          }
        }
        i = j + 1
        continue
      }
      if (isDigitCode(c) && !isDigitCode(text.charCodeAt(i - 1)) && text.charCodeAt(i - 1) !== 46) {
        let j = i
        while (j < text.length && isDigitCode(text.charCodeAt(j))) j++
        const next = text.charCodeAt(j)
        const integer = next !== 46 && next !== 101 && next !== 69 // not a fraction or exponent
        if (integer && j - i >= 13 && j - i <= 19 && luhnValid(text.slice(i, j))) {
          out += text.slice(at, i) + this.#card(text.slice(i, j))
          at = j
          if (counts) counts.card++
        }
        i = j
        continue
      }
      i++
    }
    return at === 0 ? text : out + text.slice(at)
  }

  #fake(original: string, sp: PiiSpan): string {
    const key = `${sp.kind}\0${original}`
    let fake = this.#fakes.get(key)
    if (fake === undefined) {
      if (this.#fakes.size >= 50_000) this.#fakes.clear() // bounded memory; a miss only costs a recomputation
      fake = this.#make(original, sp)
      this.#fakes.set(key, fake)
    }
    return fake
  }

  #make(original: string, sp: PiiSpan): string {
    switch (sp.kind) {
      case 'email':
        // The column masker's fake: an address written in a note masks like the same address in an email column.
        return maskValue('email', original, this.#salt, { unique: false })!
      case 'name': {
        const fake = maskValue(this.#names.get(original.toLowerCase()) === 'first' ? 'first_name' : 'last_name', original, this.#salt, { unique: false })!
        return original === original.toUpperCase() ? fake.toUpperCase() : fake
      }
      case 'phone':
        return this.#digits(original, 'phone')
      case 'card':
        return this.#card(original)
      case 'iban':
        return this.#iban(original)
    }
  }

  #stream(kind: string, original: string): Buffer {
    return createHmac('sha256', this.#salt).update(`${kind}\0${original}`).digest()
  }

  /** Every digit replaced by a keyed one; separators, `+`, parentheses and length kept. */
  #digits(original: string, kind: string): string {
    const h = this.#stream(kind, original)
    let n = 0
    let out = ''
    for (let i = 0; i < original.length; i++) {
      const c = original.charCodeAt(i)
      out += isDigitCode(c) ? String(h[n++ % h.length]! % 10) : original[i]
    }
    return out
  }

  /**
   * A card keeps its length, grouping and first digit (the network: 4 Visa, 5 Mastercard, 3 Amex…) and
   * passes Luhn, so card-shaped validation still accepts it; every other digit is keyed.
   */
  #card(original: string): string {
    const masked = this.#digits(original, 'card')
    const positions: number[] = []
    for (let i = 0; i < original.length; i++) if (isDigitCode(original.charCodeAt(i))) positions.push(i)
    const chars = [...masked]
    chars[positions[0]!] = original[positions[0]!]!
    // The check digit: the one value of the last digit that makes the whole pass Luhn.
    const last = positions[positions.length - 1]!
    for (let d = 0; d <= 9; d++) {
      chars[last] = String(d)
      if (luhnValid(positions.map((p) => chars[p]).join(''))) break
    }
    return chars.join('')
  }

  /** An IBAN keeps its country, length, grouping and letter/digit positions, with valid check digits. */
  #iban(original: string): string {
    const h = this.#stream('iban', original)
    const positions: number[] = []
    for (let i = 0; i < original.length; i++) if (original.charCodeAt(i) !== 32) positions.push(i)
    const chars = [...original.toUpperCase()]
    positions.forEach((p, n) => {
      if (n < 4) return
      const b = h[n % h.length]! ^ n
      chars[p] = isLetterCode(original.charCodeAt(p)) ? String.fromCharCode(65 + (b % 26)) : String(b % 10)
    })
    const compact = () => positions.map((p) => chars[p]).join('')
    chars[positions[2]!] = '0'
    chars[positions[3]!] = '0'
    const check = 98 - ibanMod97(compact())
    chars[positions[2]!] = String(Math.floor(check / 10))
    chars[positions[3]!] = String(check % 10)
    return chars.join('')
  }
}
