/**
 * @module data/pii-detect — finds personal data inside free text by content: emails, phone numbers,
 * payment card numbers (Luhn), IBANs (mod-97) and person names from a learned name book.
 *
 * Hand-written scanners, no regular expression sees the text: every character is looked at a bounded
 * number of times (an email scan stops at the neighbouring `@`, a number run is cut into digit groups
 * once and windows over them are at most 19 digits long, an IBAN attempt reads at most 34 characters
 * plus its spaces and starts only at a word start), so the cost is linear in the text's length.
 */

export type PiiKind = 'email' | 'phone' | 'card' | 'iban' | 'name'
export const piiKinds: readonly PiiKind[] = ['email', 'phone', 'card', 'iban', 'name']

export interface PiiSpan {
  start: number
  /** Exclusive. */
  end: number
  kind: PiiKind
}

/** Words that are values of masked name columns (lower case) → whether they were given or family names. */
export type NameBook = ReadonlyMap<string, 'first' | 'last'>

const isDigit = (c: number) => c >= 48 && c <= 57
const isAsciiLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isUpperAscii = (c: number) => c >= 65 && c <= 90

/** A letter of any cased script (Latin, Greek, Cyrillic, …): what names and words are made of. */
function isLetterAt(s: string, i: number): boolean {
  if (i < 0 || i >= s.length) return false
  const c = s.charCodeAt(i)
  if (c < 128) return isAsciiLetter(c)
  const ch = s[i]!
  return ch.toLowerCase() !== ch.toUpperCase()
}
const isAlnumAt = (s: string, i: number) => i >= 0 && i < s.length && (isDigit(s.charCodeAt(i)) || isLetterAt(s, i))

// ---------------------------------------------------------------- checksums

/** Luhn (mod 10) over the digits of `digits` (a string of digits only). */
export function luhnValid(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

/** ISO 13616 mod-97 of an IBAN (upper-case letters and digits, no spaces): 1 when valid. */
export function ibanMod97(iban: string): number {
  const moved = iban.slice(4) + iban.slice(0, 4)
  let r = 0
  for (let i = 0; i < moved.length; i++) {
    const c = moved.charCodeAt(i)
    // Letters count as two digits (A = 10 … Z = 35).
    r = isDigit(c) ? (r * 10 + (c - 48)) % 97 : (r * 100 + (c - 55)) % 97
  }
  return r
}

/** IBAN length per country (SWIFT IBAN registry). A code not listed is not an IBAN. */
export const ibanLengths: ReadonlyMap<string, number> = new Map(
  Object.entries({
    AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
    DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
    HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
    LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
    RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
  }), // prettier-ignore
)

// ---------------------------------------------------------------- emails

/** ASCII lookup table of a character class: one array read per character in the hot loops. */
function asciiTable(chars: string, digits: boolean, letters: boolean): Uint8Array {
  const t = new Uint8Array(128)
  for (let c = 0; c < 128; c++) t[c] = (digits && isDigit(c)) || (letters && isAsciiLetter(c)) ? 1 : 0
  for (const ch of chars) t[ch.charCodeAt(0)] = 1
  return t
}
const localChars = asciiTable("._%+-!#$&'*/=?^`{|}~", true, true)
const isLocalChar = (c: number) => c < 128 && localChars[c] === 1
const isDomainChar = (c: number) => isDigit(c) || isAsciiLetter(c) || c === 45 /* - */ || c === 46 /* . */

/** Email spans: around each `@`, at most 64 characters left and 253 right, never across a neighbour `@`. */
function findEmails(s: string, out: PiiSpan[]): void {
  let floor = 0 // the left scan never enters the previous match
  for (let at = s.indexOf('@'); at >= 0; at = s.indexOf('@', at + 1)) {
    let a = at
    while (a > floor && at - a < 64 && isLocalChar(s.charCodeAt(a - 1))) a--
    // A local part starts with a letter or digit here: a quote or bracket before it belongs to the text.
    while (a < at && !isDigit(s.charCodeAt(a)) && !isAsciiLetter(s.charCodeAt(a))) a++
    if (a === at) continue
    let b = at + 1
    while (b < s.length && b - at <= 253 && isDomainChar(s.charCodeAt(b))) b++
    while (b > at + 1 && (s.charCodeAt(b - 1) === 46 || s.charCodeAt(b - 1) === 45)) b-- // sentence dot, dash
    let lastDot = b - 1
    while (lastDot > at && s.charCodeAt(lastDot) !== 46) lastDot-- // within the domain only: bounded by 253
    if (lastDot <= at + 1 || b - lastDot - 1 < 2) continue
    let tldLetters = true
    for (let k = lastDot + 1; k < b; k++) tldLetters &&= isAsciiLetter(s.charCodeAt(k))
    if (!tldLetters || s.charCodeAt(at + 1) === 46 || s.slice(at, b).includes('..')) continue
    out.push({ start: a, end: b, kind: 'email' })
    floor = b
    at = b - 1
  }
}

// ---------------------------------------------------------------- numbers (cards, phones)

/** ASCII character classes of the main scan, ordered so that ranges test them: letters ≤ UPPER < RUN ≤ DIGIT. */
const OTHER = 0
const LETTER = 1
const UPPER = 2
const RUN = 3
const DIGIT = 4
const asciiClass = new Uint8Array(128)
for (let c = 0; c < 128; c++) asciiClass[c] = isDigit(c) ? DIGIT : isUpperAscii(c) ? UPPER : isAsciiLetter(c) ? LETTER : ' -.()+/'.includes(String.fromCharCode(c)) ? RUN : OTHER

interface Group {
  start: number
  end: number
}

/**
 * Cards and phones inside one run of digits and separators [start, end): the run is cut into digit
 * groups; from each group, windows of following groups are tried (≤ 19 digits, so a bounded number),
 * the longest card (13–19 digits, single space or dash between groups, Luhn) first, else the longest phone.
 */
function findNumbers(s: string, start: number, end: number, out: PiiSpan[]): void {
  const groups: Group[] = []
  for (let i = start; i < end;) {
    if (!isDigit(s.charCodeAt(i))) {
      i++
      continue
    }
    const g = i
    while (i < end && isDigit(s.charCodeAt(i))) i++
    groups.push({ start: g, end: i })
  }
  for (let g = 0; g < groups.length;) {
    const first = groups[g]!
    // A number glued to a word (A1234, INV-2024-000123, #123…) is an identifier, not a phone or a card.
    if (gluedToWord(s, first.start)) {
      g++
      continue
    }
    const found = cardAt(s, groups, g) ?? phoneAt(s, groups, g)
    if (!found) {
      g++
      continue
    }
    out.push(found.span)
    g = found.next
  }
}

const digitsOf = (s: string, gs: Group[], from: number, to: number) => {
  let d = ''
  for (let k = from; k <= to; k++) d += s.slice(gs[k]!.start, gs[k]!.end)
  return d
}
const endsClean = (s: string, end: number) => !isAlnumAt(s, end)
const joiners = new Set([...'-./_#:'].map((c) => c.charCodeAt(0))) // read once per number run, not per character
/** Whether the number starting at `i` continues a word: a letter right before it, or one joined by - . / _ # :. */
function gluedToWord(s: string, i: number): boolean {
  if (isAlnumAt(s, i - 1)) return true
  return joiners.has(s.charCodeAt(i - 1)) && isAlnumAt(s, i - 2)
}

function cardAt(s: string, gs: Group[], g: number): { span: PiiSpan; next: number } | undefined {
  let best: number | undefined
  let digits = 0
  for (let k = g; k < gs.length; k++) {
    if (k > g) {
      const sepLen = gs[k]!.start - gs[k - 1]!.end
      const sep = s.charCodeAt(gs[k - 1]!.end)
      if (sepLen !== 1 || (sep !== 32 && sep !== 45)) break
    }
    digits += gs[k]!.end - gs[k]!.start
    if (digits > 19) break
    if (digits >= 13 && endsClean(s, gs[k]!.end) && luhnValid(digitsOf(s, gs, g, k))) best = k
  }
  if (best === undefined) return undefined
  return { span: { start: gs[g]!.start, end: gs[best]!.end, kind: 'card' }, next: best + 1 }
}

/** Separators a phone number is written with: one of - . / space, or `) `, `)`, ` (`. */
function phoneSeparator(s: string, from: number, to: number): boolean {
  const sep = s.slice(from, to)
  return sep === ' ' || sep === '-' || sep === '.' || sep === '/' || sep === ') ' || sep === ')' || sep === ' (' || sep === ') -' || sep === ')-' || sep === ' - '
}

function phoneAt(s: string, gs: Group[], g: number): { span: PiiSpan; next: number } | undefined {
  const first = gs[g]!
  const plus = s.charCodeAt(first.start - 1) === 43 || (s.charCodeAt(first.start - 1) === 40 && s.charCodeAt(first.start - 2) === 43)
  let start = first.start
  if (s.charCodeAt(start - 1) === 43) start--
  if (s.charCodeAt(start - 1) === 40) start-- // (555) or (+44)
  if (s.charCodeAt(start - 1) === 43) start-- // +(44)
  if (start !== first.start && gluedToWord(s, start)) return undefined
  const lead = first.end - first.start
  let best: number | undefined
  let digits = 0
  // National numbers: every group of 2+ digits except a leading trunk or country `1`/`0`.
  let groupsLong = true
  for (let k = g; k < gs.length; k++) {
    if (k > g && !phoneSeparator(s, gs[k - 1]!.end, gs[k]!.start)) break
    const len = gs[k]!.end - gs[k]!.start
    digits += len
    if (digits > 15) break
    if (len < 2 && k > g) groupsLong = false
    if (!endsClean(s, gs[k]!.end)) continue
    if (plus ? digits >= 8 : k > g && groupsLong && nationalLength(s, first.start, digits, lead)) best = k
  }
  if (best === undefined) return undefined
  return { span: { start, end: gs[best]!.end, kind: 'phone' }, next: best + 1 }
}

/**
 * A national number: 10 digits, or 11 starting with 0 or 1 (trunk prefix, NANP's 1), written in at least
 * two groups (a bare 10-digit integer is an id or a timestamp far more often than a phone).
 */
function nationalLength(s: string, at: number, digits: number, lead: number): boolean {
  if (lead === 1 && s[at] !== '0' && s[at] !== '1') return false
  return digits === 10 || (digits === 11 && (s[at] === '0' || s[at] === '1'))
}

// ---------------------------------------------------------------- IBANs

/**
 * An IBAN-shaped token starting at `i` (a word start): a known country code, two check digits and that
 * country's length (single spaces allowed between characters). `valid` says whether mod 97 holds; an
 * invalid one is still skipped whole, so its digits are not mistaken for a card or a phone.
 */
function ibanAt(s: string, i: number): { end: number; valid: boolean } | undefined {
  if (!isDigit(s.charCodeAt(i + 2)) || !isDigit(s.charCodeAt(i + 3))) return undefined
  const country = s.slice(i, i + 2).toUpperCase()
  const length = ibanLengths.get(country)
  if (length === undefined) return undefined
  let compact = ''
  let j = i
  while (j < s.length && compact.length < length) {
    const c = s.charCodeAt(j)
    if (isDigit(c) || isAsciiLetter(c)) {
      compact += s[j]!.toUpperCase()
      j++
    } else if (c === 32 && compact.length >= 4 && j + 1 < s.length && s.charCodeAt(j + 1) !== 32) j++
    else return undefined
  }
  if (compact.length !== length || isAlnumAt(s, j)) return undefined
  return { end: j, valid: ibanMod97(compact) === 1 }
}

// ---------------------------------------------------------------- the scan

/**
 * Every span of personal data in `s`, in order, without overlaps. Names are words written with a
 * capital (Alice, ALICE) whose lower-case form is in `names`.
 */
export function detectPii(s: string, names?: NameBook): PiiSpan[] {
  const emails: PiiSpan[] = []
  if (s.indexOf('@') >= 0) findEmails(s, emails)
  const out: PiiSpan[] = []
  const useNames = names !== undefined && names.size > 0
  let e = 0
  let i = 0
  let limit = emails.length > 0 ? emails[0]!.start : s.length
  while (i < s.length) {
    if (i >= limit) {
      const email = emails[e++]!
      out.push(email)
      i = email.end
      limit = e < emails.length ? emails[e]!.start : s.length
      continue
    }
    const c = s.charCodeAt(i)
    const k = c < 128 ? asciiClass[c]! : isLetterAt(s, i) ? LETTER : OTHER
    if (k === OTHER) {
      i++
      continue
    }
    if (k === RUN || k === DIGIT) {
      let j = i
      let digits = 0
      for (let d = c; j < limit && (d = s.charCodeAt(j)) < 128 && asciiClass[d]! >= RUN; j++) if (asciiClass[d] === DIGIT) digits++
      // Fewer than 8 digits make no phone (E.164's least) or card: most runs end here.
      if (digits >= 8) findNumbers(s, i, j, out)
      i = j
      continue
    }
    // A word. Lower-case words (most of any text) are skipped in one tight loop: no IBAN or name starts so.
    const wordStart = !isAlnumAt(s, i - 1)
    if (k === UPPER && wordStart) {
      if (i + 3 < limit) {
        const iban = ibanAt(s, i)
        if (iban !== undefined && iban.end <= limit) {
          if (iban.valid) out.push({ start: i, end: iban.end, kind: 'iban' })
          i = iban.end
          continue
        }
      }
    }
    let j = i + 1
    for (let d: number; j < limit && ((d = s.charCodeAt(j)) < 128 ? asciiClass[d]! <= UPPER && asciiClass[d]! >= LETTER : isLetterAt(s, j));) j++
    if (useNames && wordStart && j - i >= 2 && !isDigit(s.charCodeAt(j)) && (k === UPPER || (c >= 128 && startsUpper(s, i))) && names.has(s.slice(i, j).toLowerCase())) {
      out.push({ start: i, end: j, kind: 'name' })
    }
    i = j
  }
  // In order already: the scan moves left to right and emails are merged in at their place.
  return out
}

function startsUpper(s: string, i: number): boolean {
  const c = s.charCodeAt(i)
  if (c < 128) return isUpperAscii(c)
  const ch = s[i]!
  return ch !== ch.toLowerCase()
}

/** Splits a name column's value into the words the scan compares (letters only, 2+ long). */
export function nameWords(value: string): string[] {
  const words: string[] = []
  for (let i = 0; i < value.length;) {
    if (!isLetterAt(value, i)) {
      i++
      continue
    }
    let j = i
    while (j < value.length && isLetterAt(value, j)) j++
    if (j - i >= 2) words.push(value.slice(i, j).toLowerCase())
    i = j
  }
  return words
}
