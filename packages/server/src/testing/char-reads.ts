/** @module testing/char-reads — counts a function's character reads: a clock-free measure of a scanner's steps. */

/**
 * Character reads of `fn`: every scanner reads the text through charCodeAt, so counting its calls counts
 * the scan's steps, deterministically (no clock). Native helpers it calls (indexOf, slice) are bounded by
 * the spans around the reads.
 */
export function charReads(fn: () => unknown): number {
  const original = String.prototype.charCodeAt
  let n = 0
  String.prototype.charCodeAt = function (this: string, i: number) {
    n++
    return original.call(this, i)
  }
  try {
    fn()
  } finally {
    String.prototype.charCodeAt = original
  }
  return n
}
