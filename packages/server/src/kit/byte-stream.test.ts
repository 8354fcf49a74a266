import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ByteStream, type ByteSource } from './byte-stream.js'

/** A source of `n` chunks of `size` bytes that counts pulls and cancels. */
function counted(n: number, size = 4): ByteSource & { pulls: number; cancels: number } {
  const s = {
    pulls: 0,
    cancels: 0,
    next: async (): Promise<IteratorResult<Uint8Array, undefined>> => (s.pulls++ < n ? { done: false, value: new Uint8Array(size).fill(s.pulls) } : { done: true, value: undefined }),
    cancel: () => void s.cancels++,
  }
  return s
}

describe('ByteStream', () => {
  it('pulls one chunk per next(): the consumer sets the pace', async () => {
    const src = counted(5)
    const bs = new ByteStream(src)
    await bs.next()
    await bs.next()
    expect(src.pulls).toBe(2)
    expect(bs.bytes).toBe(8)
    expect((await bs.collect()).length).toBe(12)
    expect(src.cancels).toBe(0) // a stream read to its end is not cancelled
  })

  it("refuses the chunk that crosses the bound, with the caller's error, and cancels the source once", async () => {
    const src = counted(10)
    const bs = new ByteStream(src, { max: 10, tooLarge: (max) => new Error(`over ${max}`) })
    await expect(bs.collect()).rejects.toThrow('over 10')
    expect(src.pulls).toBe(3)
    expect(src.cancels).toBe(1)
    await bs.cancel()
    expect(src.cancels).toBe(1)
    expect(await bs.next()).toEqual({ done: true, value: undefined })
  })

  it('without a tooLarge function, crossing the bound is a RangeError naming it', async () => {
    await expect(new ByteStream(counted(3), { max: 5 }).collect()).rejects.toThrow(new RangeError('more than 5 bytes'))
  })

  it('a failing source is cancelled and its error passed on', async () => {
    let cancels = 0
    const bs = new ByteStream({ next: async () => Promise.reject(new Error('pipe broke')), cancel: () => void cancels++ })
    await expect(bs.next()).rejects.toThrow('pipe broke')
    expect(cancels).toBe(1)
  })

  it('leaving a for-await early cancels the source (the command is ended), once', async () => {
    const src = counted(100)
    for await (const _ of new ByteStream(src)) break
    expect(src.cancels).toBe(1)
  })

  it('from() reads a Node Readable chunk by chunk and never destroys it when stopped early; of() gives bytes once (nothing for empty)', async () => {
    expect((await ByteStream.from(Readable.from([Buffer.from('ab'), Buffer.from('cd')], { objectMode: false })).collect()).toString()).toBe('abcd')
    // Stopped early (an upload refused after its first chunk): the body stays open for the 4xx reply.
    const body = Readable.from([Buffer.from('ab'), Buffer.from('cd')], { objectMode: false })
    const early = ByteStream.from(body)
    await early.next()
    await early.cancel()
    expect(body.destroyed).toBe(false)
    expect(await ByteStream.of(new Uint8Array([1, 2])).collect()).toEqual(Buffer.from([1, 2]))
    expect(await ByteStream.of(new Uint8Array()).next()).toEqual({ done: true, value: undefined })
  })
})
