import { describe, expect, it } from 'vitest'
import { OutputBuffer } from './output-buffer.js'

describe('OutputBuffer', () => {
  it('keeps everything under the cap', () => {
    const b = new OutputBuffer(100)
    b.push(Buffer.from('hello '))
    b.push(Buffer.from('world'))
    expect(b.text()).toBe('hello world')
    expect(b.truncated).toBe(false)
    expect(b.total).toBe(11)
  })
  it('keeps head and tail over the cap and says how much was dropped', () => {
    const b = new OutputBuffer(10)
    for (let i = 0; i < 100; i++) b.push(Buffer.from(String(i % 10)))
    expect(b.truncated).toBe(true)
    expect(b.total).toBe(100)
    expect(b.text()).toBe('01234\n[tidepool: 90 bytes truncated]\n56789')
  })
  it('handles one huge chunk', () => {
    const b = new OutputBuffer(8)
    b.push(Buffer.alloc(1_000_000, 'a'))
    b.push(Buffer.from('zz'))
    expect(b.text()).toBe('aaaa\n[tidepool: 999994 bytes truncated]\naazz')
  })
})
