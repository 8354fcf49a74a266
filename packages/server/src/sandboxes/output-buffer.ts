/** @module sandboxes/output-buffer — keeps the head and tail of a byte stream under a cap, and counts everything. */

/**
 * A command can print gigabytes; the buffered API keeps `cap` bytes per stream: the first half and the
 * last half, and reports `truncated` — never a silent drop.
 */
export class OutputBuffer {
  #head: Buffer[] = []
  #headBytes = 0
  #tail: Buffer[] = []
  #tailBytes = 0
  total = 0

  constructor(private readonly cap: number) {}

  get truncated(): boolean {
    return this.total > this.cap
  }

  push(chunk: Buffer): void {
    this.total += chunk.length
    const headRoom = Math.ceil(this.cap / 2) - this.#headBytes
    if (headRoom > 0) {
      const h = chunk.subarray(0, headRoom)
      this.#head.push(h)
      this.#headBytes += h.length
      chunk = chunk.subarray(h.length)
      if (chunk.length === 0) return
    }
    this.#tail.push(chunk)
    this.#tailBytes += chunk.length
    const tailCap = Math.floor(this.cap / 2)
    while (this.#tailBytes - (this.#tail[0]?.length ?? 0) >= tailCap && this.#tail.length > 1) {
      this.#tailBytes -= this.#tail.shift()!.length
    }
  }

  /** The kept bytes; with a marker line between head and tail when something was dropped. */
  bytes(): Buffer {
    const head = Buffer.concat(this.#head)
    let tail = Buffer.concat(this.#tail)
    const tailCap = Math.floor(this.cap / 2)
    if (!this.truncated) return Buffer.concat([head, tail])
    if (tail.length > tailCap) tail = tail.subarray(tail.length - tailCap)
    const dropped = this.total - head.length - tail.length
    return Buffer.concat([head, Buffer.from(`\n[tidepool: ${dropped} bytes truncated]\n`), tail])
  }

  text(): string {
    return this.bytes().toString('utf8')
  }
}
