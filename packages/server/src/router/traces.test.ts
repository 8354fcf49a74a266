import { describe, expect, it } from 'vitest'
import { RouteTraces, traceIdOf } from './traces.js'

const hop = (service: string, key?: string) => ({ at: 0, service, target: key ?? 'baseline', key, status: 200, ms: 1.23456, fallback: false })

describe('RouteTraces', () => {
  it('keeps the newest traces per environment and a bounded number of hops each', () => {
    const t = new RouteTraces(2, 3)
    for (const s of ['a', 'b', 'c', 'd']) t.add('shop', 't1', hop(s, 'k'))
    t.add('shop', 't2', hop('a'))
    t.add('shop', 't3', hop('a', 'k'))
    expect(t.query('shop', { limit: 10 }).map((x) => x.traceId)).toEqual(['t3', 't2'])
    t.add('shop', 't2', hop('b'))
    expect(t.query('shop', { traceId: 't2', limit: 10 })[0]!.hops.map((h) => h.service)).toEqual(['a', 'b'])
    expect(t.query('shop', { key: 'k', limit: 10 }).map((x) => x.traceId)).toEqual(['t3'])
    expect(t.query('shop', { traceId: 't1', limit: 10 })).toEqual([])
    const one = new RouteTraces(10, 3)
    for (const s of ['a', 'b', 'c', 'd']) one.add('e', 'x', hop(s))
    expect(one.query('e', { limit: 1 })[0]!.hops.map((h) => h.service)).toEqual(['a', 'b', 'c'])
    expect(one.query('e', { limit: 1 })[0]!.hops[0]!.ms).toBe(1.235)
  })

  it('reads the trace id of a valid traceparent and starts one otherwise', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(traceIdOf({ traceparent: tp })).toEqual({ id: '4bf92f3577b34da6a3ce929d0e0e4736', made: false, header: tp })
    for (const bad of [undefined, 'junk', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, tp.toUpperCase()]) {
      const made = traceIdOf(bad === undefined ? {} : { traceparent: bad })
      expect(made.made).toBe(true)
      expect(made.header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      expect(made.header.slice(3, 35)).toBe(made.id)
    }
  })
})
