/** @module core/mutex — serialise async work per key (quota checks, state transitions of one sandbox). */
export class KeyedMutex {
  #tails = new Map<string, Promise<unknown>>()

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const tail = next.catch(() => undefined)
    this.#tails.set(key, tail)
    try {
      return await next
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }
}
