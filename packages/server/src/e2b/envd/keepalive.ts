/** @module e2b/envd/keepalive — interleaves keepalive pings into a stream that may be silent for long. */

const ping: unique symbol = Symbol('keepalive')

/**
 * The items of `source`, with `withKeepalive.ping` in between whenever `intervalMs` passed without one
 * (0: none). The source's pending item is kept across pings, never pulled twice. Ends as soon as `signal`
 * aborts (the client left), even while the source is silent, so nothing waits on a gone caller.
 */
export async function* withKeepalive<T>(source: AsyncIterable<T>, intervalMs: number, signal?: AbortSignal): AsyncGenerator<T | typeof ping> {
  const it = source[Symbol.asyncIterator]()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<'aborted'>((r) => {
    onAbort = () => r('aborted')
    if (signal?.aborted) r('aborted')
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
  try {
    for (;;) {
      const next = it.next()
      for (;;) {
        let timer: NodeJS.Timeout | undefined
        const waits: Promise<IteratorResult<T> | 'tick' | 'aborted'>[] = [next, aborted]
        if (intervalMs > 0) waits.push(new Promise<'tick'>((r) => (timer = setTimeout(() => r('tick'), intervalMs))))
        const r = await Promise.race(waits).finally(() => clearTimeout(timer))
        if (r === 'aborted') return
        if (r === 'tick') {
          yield ping
          continue
        }
        if (r.done) return
        yield r.value
        break
      }
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort)
    // Not awaited: a source blocked on its next item must not hold this generator's end.
    void it.return?.(undefined)
  }
}
withKeepalive.ping = ping
