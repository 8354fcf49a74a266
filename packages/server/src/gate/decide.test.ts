import { beforeAll, describe, expect, it } from 'vitest'
import { classify, loadParser } from './classify.js'
import { decide, type EvidenceFacts } from './decide.js'

beforeAll(async () => {
  await loadParser()
})

const limits = { maxRowsChanged: 100, maxDurationMs: 1000 }
const clean: EvidenceFacts = { tables: [{ table: 'public.orders', inserted: 0, updated: 3, deleted: 0 }], rowsChanged: 3, droppedWithData: [], artifactMs: 5, mirrorDrift: [] }
const expectNothing = { destructive: false, heavyLocks: false }

describe('decide', () => {
  it('no evidence never passes', () => {
    expect(decide(classify('UPDATE orders SET total = 1 WHERE id = 1'), undefined, expectNothing, limits).verdict).toBe('inconclusive')
  })

  it('passes clean evidence within the thresholds', () => {
    expect(decide(classify('UPDATE orders SET total = 1 WHERE id < 4'), clean, expectNothing, limits)).toMatchObject({ verdict: 'pass' })
  })

  it('fails on an error, an unexpected destructive statement, data removed, too many rows, or a table not named', () => {
    const plan = classify('UPDATE orders SET total = 1')
    expect(decide(plan, clean, expectNothing, limits).reasons[0]).toMatch(/destructive and not expected.*UPDATE without WHERE/)
    expect(decide(plan, clean, { ...expectNothing, destructive: true }, limits).verdict).toBe('pass')
    const ok = classify('UPDATE orders SET total = 1 WHERE id = 1')
    expect(decide(ok, { ...clean, error: { message: 'boom', statement: 1 } }, expectNothing, limits).verdict).toBe('fail')
    expect(decide(ok, { ...clean, droppedWithData: ['column public.orders.note (3 values)'] }, expectNothing, limits).verdict).toBe('fail')
    expect(decide(ok, { ...clean, rowsChanged: 101 }, expectNothing, limits).reasons[0]).toMatch(/101 rows changed, more than the 100 allowed \(gate.maxRowsChanged\)/)
    expect(decide(ok, { ...clean, rowsChanged: 101 }, { ...expectNothing, maxRowsChanged: 500 }, limits).verdict).toBe('pass')
    expect(decide(ok, clean, { ...expectNothing, tables: ['customers'] }, limits).reasons).toEqual(['rows of public.orders changed, which expect.tables does not name'])
  })

  it('is inconclusive on unexpected heavy locks, a slow run, or a mirror that drifted from the target', () => {
    const idx = classify('CREATE INDEX o ON orders (total)')
    expect(decide(idx, clean, expectNothing, limits).verdict).toBe('inconclusive')
    expect(decide(idx, clean, { ...expectNothing, heavyLocks: true }, limits).verdict).toBe('pass')
    const ok = classify('UPDATE orders SET total = 1 WHERE id = 1')
    expect(decide(ok, { ...clean, artifactMs: 5000 }, expectNothing, limits).verdict).toBe('inconclusive')
    expect(decide(ok, { ...clean, mirrorDrift: ['only in the target: table public.x'] }, expectNothing, limits).verdict).toBe('inconclusive')
  })
})
