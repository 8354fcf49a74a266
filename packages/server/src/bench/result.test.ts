import { describe, expect, it } from 'vitest'
import { metric } from './result.js'

describe('metric', () => {
  it('takes nearest-rank percentiles', () => {
    const m = metric(
      'x',
      'ms',
      Array.from({ length: 100 }, (_, i) => i + 1),
    )
    expect(m).toMatchObject({ n: 100, p50: 50, p90: 90, p99: 99, p999: 100 })
  })
})
