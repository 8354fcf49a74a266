import { describe, expect, it } from 'vitest'
import { keyValues, parseDuration, table } from './io.js'

describe('cli io helpers', () => {
  it('parses durations', () => {
    expect(parseDuration('30s', '--timeout')).toBe(30_000)
    expect(parseDuration('5m', '--timeout')).toBe(300_000)
    expect(parseDuration('1500', '--timeout')).toBe(1500)
    expect(() => parseDuration('soon', '--timeout')).toThrow(/--timeout must be a duration/)
  })
  it('parses KEY=VALUE lists', () => {
    expect(keyValues(['a=1', 'b=x=y'], '--env')).toEqual({ a: '1', b: 'x=y' })
    expect(() => keyValues(['nokey'], '--env')).toThrow(/KEY=VALUE/)
  })
  it('aligns tables', () => {
    expect(table([{ id: 'a', state: 'running' }, { id: 'bbb' }], ['id', 'state'])).toBe('ID   STATE\na    running\nbbb  -')
  })
})
