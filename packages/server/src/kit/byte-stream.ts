/** @module kit/byte-stream — raw bytes that flow through the control plane instead of being held whole. */

/** Where the bytes of a ByteStream come from: the next chunk, and what to do when the consumer stops early. */
export interface ByteSource {
  next(): Promise<IteratorResult<Uint8Array, undefined>>
  /** The consumer stopped before the end (client gone, command failed): free what the source holds. Idempotent. */
  cancel?(): Promise<void> | void
}

/**
 * A file's bytes on their way in (a request body into a command's stdin) or out (a command's stdout into
 * a response). Pulled one chunk at a time, so the slower side sets the pace (backpressure) and the control
 * plane holds a chunk or two, never the file.
 *
 * Deliberately not a for-await over a Node stream: leaving such a loop early destroys the stream, and for a
 * request body that destroys the socket — the client would get a reset instead of the 4xx explaining why
 * its upload was refused.
 */
export class ByteStream implements AsyncIterable<Uint8Array> {
  /** Bytes that went through so far. Public on purpose: it is all the audit log records of a body. */
  bytes = 0
  readonly #source: ByteSource
  readonly #max: number
  readonly #tooLarge: ((max: number) => Error) | undefined
  #finished = false

  constructor(source: ByteSource, opts: { max?: number; tooLarge?: (max: number) => Error } = {}) {
    this.#source = source
    this.#max = opts.max ?? Number.POSITIVE_INFINITY
    this.#tooLarge = opts.tooLarge
  }

  /** Whole bytes as a stream (an in-process caller, a test). */
  static of(bytes: Uint8Array): ByteStream {
    let given = false
    return new ByteStream({ next: async () => (given || bytes.byteLength === 0 ? { done: true, value: undefined } : ((given = true), { done: false, value: bytes })) })
  }

  /** Any async iterable (a Node Readable, a web ReadableStream) read chunk by chunk, never destroyed by us. */
  static from(iterable: AsyncIterable<Uint8Array>, opts: { max?: number; tooLarge?: (max: number) => Error } = {}): ByteStream {
    const it = iterable[Symbol.asyncIterator]()
    return new ByteStream({ next: async () => (await it.next()) as IteratorResult<Uint8Array, undefined> }, opts)
  }

  async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.#finished) return { done: true, value: undefined }
    let r: IteratorResult<Uint8Array, undefined>
    try {
      r = await this.#source.next()
    } catch (err) {
      await this.cancel()
      throw err
    }
    if (r.done) {
      this.#finished = true
      return r
    }
    this.bytes += r.value.byteLength
    if (this.bytes > this.#max) {
      await this.cancel()
      throw this.#tooLarge?.(this.#max) ?? new RangeError(`more than ${this.#max} bytes`)
    }
    return r
  }

  /** Stop early; the source frees what it holds (e.g. kills the command). Idempotent. */
  async cancel(): Promise<void> {
    if (this.#finished) return
    this.#finished = true
    await this.#source.cancel?.()
  }

  /** Everything, up to the bound (tests, and callers that need whole bytes). */
  async collect(): Promise<Buffer> {
    const chunks: Uint8Array[] = []
    for (let r = await this.next(); !r.done; r = await this.next()) chunks.push(r.value)
    return Buffer.concat(chunks)
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.cancel()
        return { done: true, value: undefined }
      },
    }
  }
}
