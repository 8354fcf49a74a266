import { describe, expect, it } from 'vitest'
import { withKeepalive } from './keepalive.js'

async function* slow(items: string[], gapMs: number) {
  for (const i of items) {
    await new Promise((r) => setTimeout(r, gapMs))
    yield i
  }
}

describe('withKeepalive', () => {
  it('passes every item through in order, with pings while the source is silent', async () => {
    const seen: unknown[] = []
    for await (const x of withKeepalive(slow(['a', 'b'], 60), 10)) seen.push(x)
    expect(seen.filter((x) => x !== withKeepalive.ping)).toEqual(['a', 'b'])
    expect(seen.filter((x) => x === withKeepalive.ping).length).toBeGreaterThan(0)
  })

  it('sends no pings with interval 0, and ends at once when the signal aborts', async () => {
    const seen: unknown[] = []
    for await (const x of withKeepalive(slow(['a'], 5), 0)) seen.push(x)
    expect(seen).toEqual(['a'])
    const ac = new AbortController()
    const never = { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<string>>(() => {}) }) }
    const it = withKeepalive(never, 0, ac.signal)
    const pending = it.next()
    ac.abort()
    expect(await pending).toEqual({ done: true, value: undefined })
  })
})
