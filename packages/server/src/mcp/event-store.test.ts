import { describe, expect, it } from 'vitest'
import { BoundedEventStore } from './event-store.js'

const msg = (n: number) => ({ jsonrpc: '2.0' as const, method: 'notifications/progress', params: { n } })

describe('BoundedEventStore', () => {
  it('replays what came after an event on its own stream only', async () => {
    const store = new BoundedEventStore()
    const a1 = await store.storeEvent('a', msg(1))
    await store.storeEvent('b', msg(2))
    const a3 = await store.storeEvent('a', msg(3))
    const sent: [string, unknown][] = []
    expect(await store.replayEventsAfter(a1, { send: async (id, m) => void sent.push([id, m]) })).toBe('a')
    expect(sent).toEqual([[a3, msg(3)]])
    expect(await store.getStreamIdForEventId(a3)).toBe('a')
  })
  it('keeps only the newest events; an evicted id replays nothing', async () => {
    const store = new BoundedEventStore(2)
    const first = await store.storeEvent('a', msg(1))
    await store.storeEvent('a', msg(2))
    await store.storeEvent('a', msg(3))
    const sent: unknown[] = []
    expect(await store.replayEventsAfter(first, { send: async (_id, m) => void sent.push(m) })).toBe('')
    expect(sent).toEqual([])
  })
})
