/** @module insights/clean — strip ANSI escape sequences and XML-illegal control characters from report text. */

// CSI (ESC [ … final), OSC (ESC ] … BEL/ST), two-char escapes; also the C1 CSI (U+009B) form.
const ansi = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g
// XML 1.0 allows #x9 #xA #xD; everything else below #x20, DEL and the C1 range is dropped.
const control = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ufffe\uffff]/g
const anyBad = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffe\uffff]/

/** Removes ANSI colour/cursor sequences, then XML-illegal control characters. Fast path for clean text. */
export function cleanText(s: string): string {
  if (!anyBad.test(s)) return s
  return s.replace(ansi, '').replace(control, '')
}

/** Also collapses runs of whitespace (for names and one-line messages). */
export function cleanLine(s: string): string {
  return cleanText(s).replace(/\s+/g, ' ').trim()
}

/** Caps text at `max` characters, keeping head and tail. */
export function capText(s: string, max: number): string {
  if (s.length <= max) return s
  const head = Math.floor(max * 0.7)
  const tail = max - head - 20
  return `${s.slice(0, head)}\n…[truncated]…\n${s.slice(s.length - Math.max(0, tail))}`
}
