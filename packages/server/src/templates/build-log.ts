/** @module templates/build-log — a build's log: its last lines only, so a chatty step cannot grow memory or the store. */

/** Lines a build keeps (each at most MAX_LINE_CHARS): the tail is what explains a failure. */
export const BUILD_LOG_LINES = 500

export class BuildLog {
  #lines: string[] = []
  #dropped = 0

  push(line: string): void {
    this.#lines.push(line)
    if (this.#lines.length > BUILD_LOG_LINES) {
      // Halve rather than shift per line: amortised O(1) per push.
      const cut = this.#lines.length - BUILD_LOG_LINES
      this.#lines = this.#lines.slice(cut)
      this.#dropped += cut
    }
  }

  lines(): string[] {
    return this.#dropped > 0 ? [`… ${this.#dropped} earlier lines dropped`, ...this.#lines] : [...this.#lines]
  }
}
