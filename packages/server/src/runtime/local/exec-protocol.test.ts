import { describe, expect, it } from 'vitest'
import { FRAME_HEADER, FrameDecoder, frame, requestFrame, resizeFrame, signalFrame } from './exec-protocol.js'
import { execSocketPath } from './exec-socket.js'

/** A frame as the helper writes it. */
function serverFrame(type: string, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  const h = Buffer.alloc(FRAME_HEADER)
  h[0] = type.charCodeAt(0)
  h.writeUInt32LE(body.length, 1)
  return Buffer.concat([h, body])
}

describe('requestFrame', () => {
  it('writes NUL-terminated fields and counted lists after a q header', () => {
    const f = requestFrame({
      uid: 1000,
      gid: 1000,
      cwd: '/home/user',
      cloneInto: '/cg/x1',
      cgroupProcs: [],
      cmd: ['sh', '-c', 'echo hi'],
      env: { A: '1', B: 'x=y' },
      timeoutMs: 1500.2,
      detached: true,
      statusFile: '/d/x1.exit',
    })
    expect(String.fromCharCode(f[0]!)).toBe('q')
    expect(f.readUInt32LE(1)).toBe(f.length - FRAME_HEADER)
    expect(f.subarray(FRAME_HEADER).toString().split('\0')).toEqual([
      '1000',
      '1000',
      '/home/user',
      '/cg/x1',
      '0',
      '3',
      'sh',
      '-c',
      'echo hi',
      '2',
      'A=1',
      'B=x=y',
      '1501',
      '1',
      '/d/x1.exit',
      '0',
      '0',
      '',
    ])
  })

  it('refuses a NUL inside a field instead of splitting it', () => {
    expect(() => requestFrame({ uid: 0, gid: 0, cwd: '/', cloneInto: '', cgroupProcs: [], cmd: ['echo', 'a\0b'], env: {}, timeoutMs: 0, detached: false, statusFile: '' })).toThrow(/NUL/)
  })

  it('a pty request ends with its size; a size out of range is refused', () => {
    const base = { uid: 0, gid: 0, cwd: '/', cloneInto: '', cgroupProcs: [], cmd: ['bash'], env: {}, timeoutMs: 0, detached: true, statusFile: '' }
    expect(
      requestFrame({ ...base, pty: { cols: 80, rows: 24 } })
        .subarray(FRAME_HEADER)
        .toString()
        .split('\0')
        .slice(-3),
    ).toEqual(['80', '24', ''])
    for (const pty of [
      { cols: 0, rows: 24 },
      { cols: 80, rows: 65536 },
      { cols: 1.5, rows: 2 },
    ])
      expect(() => requestFrame({ ...base, pty })).toThrow(/pty/)
  })

  it('resize frames carry columns and rows as 16-bit little-endian; signal frames one byte', () => {
    expect([...resizeFrame(300, 2)]).toEqual([0x77, 4, 0, 0, 0, 44, 1, 2, 0])
    expect([...signalFrame(15)]).toEqual([0x73, 1, 0, 0, 0, 15])
    expect(() => signalFrame(0)).toThrow(/signal/)
    expect(() => signalFrame(64)).toThrow(/signal/)
  })

  it('stdin frames carry their bytes; the end of stdin is an empty e frame', () => {
    expect([...frame('i', Buffer.from('ab'))]).toEqual([0x69, 2, 0, 0, 0, 0x61, 0x62])
    expect([...frame('e')]).toEqual([0x65, 0, 0, 0, 0])
  })
})

describe('FrameDecoder', () => {
  it('decodes frames split and joined at any two bytes, handing output on as it comes', () => {
    const bytes = Buffer.concat([serverFrame('o', 'hello'), serverFrame('r', 'oops'), serverFrame('o', ''), serverFrame('o', '!'), serverFrame('x', '137')])
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (let cut2 = cut; cut2 <= bytes.length; cut2++) {
        const d = new FrameDecoder()
        const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut, cut2)), ...d.push(bytes.subarray(cut2))]
        // Pieces of one stream, joined, are that stream's bytes in order; the exit comes last and whole.
        const text = (type: string) => frames.map((f) => (f.type === type && 'data' in f ? f.data.toString() : '')).join('')
        expect([text('stdout'), text('stderr')]).toEqual(['hello!', 'oops'])
        expect(frames.filter((f) => 'data' in f && f.data.length === 0)).toEqual([])
        expect(frames.at(-1)).toEqual({ type: 'exit', code: 137, timedOut: false })
        expect(d.partial).toBe(0)
      }
    }
  })

  it("tells an exit at the handler's deadline from a plain one", () => {
    expect(new FrameDecoder().push(serverFrame('x', '137 timeout'))).toEqual([{ type: 'exit', code: 137, timedOut: true }])
    expect(new FrameDecoder().push(serverFrame('x', '0'))).toEqual([{ type: 'exit', code: 0, timedOut: false }])
  })

  it('counts the bytes of a frame still on its way', () => {
    const d = new FrameDecoder()
    d.push(serverFrame('o', 'hello').subarray(0, 3))
    expect(d.partial).toBe(3)
    d.push(serverFrame('o', 'hello').subarray(3, 7))
    expect(d.partial).toBe(5 + 3)
  })

  it('reports a setup failure as an error frame, and refuses an unknown frame type', () => {
    expect(new FrameDecoder().push(serverFrame('E', 'not_found: sandbox init (pid 4) is gone\n'))).toEqual([{ type: 'error', report: 'not_found: sandbox init (pid 4) is gone' }])
    expect(() => new FrameDecoder().push(serverFrame('Z', ''))).toThrow(/unknown type/)
  })

  it('hands a large payload on in views of the chunks it came in, without copying', () => {
    const big = Buffer.alloc(200_000, 7)
    const bytes = serverFrame('o', big)
    const d = new FrameDecoder()
    const first = bytes.subarray(0, 70_000)
    const [a] = d.push(first)
    expect(a?.type === 'stdout' && a.data.length).toBe(70_000 - 5)
    expect(a?.type === 'stdout' && a.data.buffer).toBe(first.buffer)
    const [b] = d.push(bytes.subarray(70_000))
    expect(a?.type === 'stdout' && b?.type === 'stdout' && Buffer.concat([a.data, b.data]).equals(big)).toBe(true)
  })
})

describe('execSocketPath', () => {
  it('lives in the sandbox dir, or under /run/tidepool when that path is too long for a socket', () => {
    expect(execSocketPath('/var/lib/tidepool/runtime/sandboxes/sbx_1')).toBe('/var/lib/tidepool/runtime/sandboxes/sbx_1/exec.sock')
    const deep = `/data/${'d'.repeat(90)}/sandboxes/sbx_1`
    const p = execSocketPath(deep)
    expect(p).toMatch(/^\/run\/tidepool\/[0-9a-f]{32}\.sock$/)
    expect(execSocketPath(deep)).toBe(p)
    expect(execSocketPath(`${deep}2`)).not.toBe(p)
  })
})
