import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../core/log.js'
import { openStore, type OpenedStore } from '../store/db.js'
import type { EgressEvent } from './egress-types.js'
import { NetworkEventStore } from './event-store.js'
import { networkDb } from './tables.js'

let store: OpenedStore
beforeEach(async () => {
  store = await openStore(':memory:')
})
afterEach(async () => store.close())

const event = (i: number, over: Partial<EgressEvent> = {}): EgressEvent => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  sandboxId: 'sbx_a',
  project: 'p',
  protocol: 'http',
  host: `h${i % 3}.test`,
  port: 80,
  verdict: i % 2 ? 'denied' : 'allowed',
  rule: 'r',
  bytesUp: i,
  bytesDown: 2 * i,
  ...over,
})

describe('NetworkEventStore', () => {
  it('writes in batches, lists newest first with pages and filters, scoped to the project', async () => {
    const s = new NetworkEventStore({ db: networkDb(store.db), log: silentLogger, retain: 1000 })
    for (let i = 0; i < 25; i++) s.record(event(i))
    s.record(event(99, { project: 'other' }))
    const seen: number[] = []
    let next: string | undefined
    for (let n = 0; n < 10; n++) {
      const page = await s.list({ project: 'p', limit: 10, nextToken: next, order: 'newest' })
      seen.push(...page.items.map((e) => e.bytesUp))
      next = page.nextToken
      if (!next) break
    }
    expect(seen).toEqual([...Array(25).keys()].reverse())
    const denied = await s.list({ project: 'p', verdict: 'denied', host: 'h1.test', limit: 100, order: 'oldest' })
    expect(denied.items.map((e) => e.bytesUp)).toEqual([1, 7, 13, 19])
  })

  it('keeps a bounded number of events', async () => {
    const s = new NetworkEventStore({ db: networkDb(store.db), log: silentLogger, retain: 100 })
    for (let i = 0; i < 1200; i++) s.record(event(i))
    await s.flush()
    const all = await networkDb(store.db)
      .selectFrom('network_events')
      .select((e) => e.fn.countAll().as('n'))
      .executeTakeFirstOrThrow()
    expect(Number(all.n)).toBeLessThanOrEqual(300)
    const newest = await s.list({ project: 'p', limit: 1, order: 'newest' })
    expect(newest.items[0]!.bytesUp).toBe(1199)
  })

  it('flush with nothing pending returns, and a later record is still written', async () => {
    const s = new NetworkEventStore({ db: networkDb(store.db), log: silentLogger, retain: 1000 })
    await s.flush()
    s.record(event(1))
    expect((await s.list({ project: 'p', limit: 10, order: 'newest' })).items).toHaveLength(1)
  })
})
