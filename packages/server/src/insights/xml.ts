/** @module insights/xml — a small, lenient, fast SAX-style XML scanner (enough for JUnit reports; no DTDs, no namespaces). */
import { isUnsafeKey } from '../core/safe-input.js'

export interface XmlHandler {
  /** Read by the scanner before it slices text; false skips text between tags (cheap whitespace). */
  readonly wantText: boolean
  open(name: string, attrs: Record<string, string>, selfClosing: boolean): void
  close(name: string): void
  /** Character data, entities already decoded (CDATA verbatim). May arrive in several pieces. */
  text(value: string): void
}

export interface XmlScanResult {
  /** The document ended inside a tag, comment, CDATA section or with elements still open. */
  truncated: boolean
  /** Where scanning stopped early, with why. */
  error?: { message: string; offset: number }
}

/** Scans `src`, calling the handler for each tag and text run. Never throws on bad input. */
export function scanXml(src: string, h: XmlHandler): XmlScanResult {
  const n = src.length
  let i = 0
  let depth = 0
  while (i < n) {
    const lt = src.indexOf('<', i)
    if (lt === -1) {
      if (h.wantText && depth > 0) h.text(decodeEntities(src.slice(i)))
      break
    }
    if (lt > i && h.wantText) h.text(decodeEntities(src.slice(i, lt)))
    const c = src.charCodeAt(lt + 1)
    if (c === 33 /* ! */) {
      if (src.startsWith('<!--', lt)) {
        const end = src.indexOf('-->', lt + 4)
        if (end === -1) return { truncated: true, error: { message: 'unterminated comment', offset: lt } }
        i = end + 3
      } else if (src.startsWith('<![CDATA[', lt)) {
        const end = src.indexOf(']]>', lt + 9)
        if (end === -1) {
          if (h.wantText) h.text(src.slice(lt + 9))
          return { truncated: true, error: { message: 'unterminated CDATA section', offset: lt } }
        }
        if (h.wantText) h.text(src.slice(lt + 9, end))
        i = end + 3
      } else {
        // <!DOCTYPE …> possibly with an internal subset [ … ]
        const bracket = src.indexOf('[', lt)
        const gt = src.indexOf('>', lt)
        if (gt === -1) return { truncated: true, error: { message: 'unterminated declaration', offset: lt } }
        if (bracket !== -1 && bracket < gt) {
          const end = src.indexOf(']>', bracket)
          if (end === -1) return { truncated: true, error: { message: 'unterminated DOCTYPE', offset: lt } }
          i = end + 2
        } else i = gt + 1
      }
      continue
    }
    if (c === 63 /* ? */) {
      const end = src.indexOf('?>', lt + 2)
      if (end === -1) return { truncated: true, error: { message: 'unterminated processing instruction', offset: lt } }
      i = end + 2
      continue
    }
    if (c === 47 /* / */) {
      const gt = src.indexOf('>', lt + 2)
      if (gt === -1) return { truncated: true, error: { message: 'unterminated end tag', offset: lt } }
      h.close(src.slice(lt + 2, gt).trim())
      depth = Math.max(0, depth - 1)
      i = gt + 1
      continue
    }
    if (Number.isNaN(c)) return { truncated: true, error: { message: 'document ends with "<"', offset: lt } }
    const end = readTag(src, lt + 1, h)
    if (end < 0) return { truncated: true, error: { message: 'unterminated start tag', offset: lt } }
    if (end > 0) {
      // end = (index after the tag) * 2 + (1 when self-closing): see readTag
      i = Math.floor(end / 2)
      if (end % 2 === 0) depth++
    } else i = lt + 1
  }
  if (depth > 0) return { truncated: true, error: { message: `document ends with ${depth} element(s) still open`, offset: n } }
  return { truncated: false }
}

/**
 * Reads `<name attr="v" …>` from `start` (just after '<'). Calls h.open.
 * Returns (index after '>') * 2 + (1 if self-closing), or -1 when the input ends first, or 0 if it is not a tag.
 */
function readTag(src: string, start: number, h: XmlHandler): number {
  const n = src.length
  let i = start
  while (i < n && !isNameEnd(src.charCodeAt(i))) i++
  if (i >= n) return -1
  const name = src.slice(start, i)
  if (name.length === 0) return 0
  // Null-prototype, and attributes named __proto__/constructor/prototype are dropped (no report means
  // anything by them): a handler's attrs.name or attrs.constructor is never an inherited value.
  const attrs = Object.create(null) as Record<string, string>
  for (;;) {
    // skip whitespace
    let ch = src.charCodeAt(i)
    while (i < n && (ch === 32 || ch === 9 || ch === 10 || ch === 13)) ch = src.charCodeAt(++i)
    if (i >= n) return -1
    if (ch === 62 /* > */) {
      h.open(name, attrs, false)
      return (i + 1) * 2
    }
    if (ch === 47 /* / */ && src.charCodeAt(i + 1) === 62) {
      h.open(name, attrs, true)
      h.close(name)
      return (i + 2) * 2 + 1
    }
    const ks = i
    while (i < n && !isAttrNameEnd(src.charCodeAt(i))) i++
    if (i >= n) return -1
    const key = src.slice(ks, i)
    ch = src.charCodeAt(i)
    while (i < n && (ch === 32 || ch === 9 || ch === 10 || ch === 13)) ch = src.charCodeAt(++i)
    if (ch !== 61 /* = */) {
      // attribute without value (lenient) or stray character: skip it
      if (key.length === 0) i++
      else if (!isUnsafeKey(key)) attrs[key] = ''
      continue
    }
    ch = src.charCodeAt(++i)
    while (i < n && (ch === 32 || ch === 9 || ch === 10 || ch === 13)) ch = src.charCodeAt(++i)
    if (i >= n) return -1
    if (ch === 34 || ch === 39) {
      const close = src.indexOf(ch === 34 ? '"' : "'", i + 1)
      if (close === -1) return -1
      if (key && !isUnsafeKey(key)) attrs[key] = decodeEntities(src.slice(i + 1, close))
      i = close + 1
    } else {
      // unquoted value (lenient)
      const vs = i
      while (i < n && !isNameEnd(src.charCodeAt(i))) i++
      if (key && !isUnsafeKey(key)) attrs[key] = decodeEntities(src.slice(vs, i))
    }
  }
}

function isNameEnd(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 62 || c === 47
}
function isAttrNameEnd(c: number): boolean {
  return c === 61 || c === 32 || c === 9 || c === 10 || c === 13 || c === 62 || c === 47
}

const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: '\u00a0' }

/** Decodes the five XML entities and numeric references; unknown ones stay as written. */
export function decodeEntities(s: string): string {
  if (s.indexOf('&') === -1) return s
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/g, (m, body: string) => {
    if (body.charCodeAt(0) === 35) {
      const code = body.charCodeAt(1) === 120 || body.charCodeAt(1) === 88 ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10)
      if (!Number.isFinite(code) || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return ''
      return String.fromCodePoint(code)
    }
    return named[body] ?? m
  })
}

/** Bytes → text: honours a BOM and the XML declaration's encoding (UTF-8 default, invalid bytes replaced). */
export function decodeXmlBytes(bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return new TextDecoder('utf-8').decode(bytes.subarray(3))
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2))
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2))
  // UTF-16 without a BOM: "<\0?\0" / "\0<\0?"
  if (bytes[0] === 0x3c && bytes[1] === 0x00) return new TextDecoder('utf-16le').decode(bytes)
  if (bytes[0] === 0x00 && bytes[1] === 0x3c) return new TextDecoder('utf-16be').decode(bytes)
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 200)))
  const m = /^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)
  const enc = m?.[1]?.toLowerCase()
  if (enc && enc !== 'utf-8' && enc !== 'utf8') {
    try {
      return new TextDecoder(enc).decode(bytes)
    } catch {
      // unknown label: fall through to UTF-8
    }
  }
  return new TextDecoder('utf-8').decode(bytes)
}
