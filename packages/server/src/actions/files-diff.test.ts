import { describe, expect, it } from 'vitest'
import { diffMarks, parseMark } from './files-diff.js'
import { listens, statusOf } from './wait-for.js'

const h = (c: string) => c.repeat(64)

describe('files marks', () => {
  it('parses the listing and hashes, sorted, with odd names intact', () => {
    const out = `f/3//r/b.txt\0d/4096//r/dir\0f/5//r/a\nnewline\0=\0${h('a')}  /r/b.txt\0${h('c')}  /r/a\nnewline\0`
    expect(parseMark('/r', out)).toEqual({
      root: '/r',
      entries: [
        { path: '/r/a\nnewline', type: 'file', size: 5, sha256: h('c') },
        { path: '/r/b.txt', type: 'file', size: 3, sha256: h('a') },
        { path: '/r/dir', type: 'dir', size: 0 },
      ],
    })
  })
  it('diffs two marks into sorted added, removed and changed', () => {
    const before = parseMark('/r', `f/1//r/keep\0f/1//r/gone\0f/1//r/edit\0=\0${h('a')}  /r/keep\0${h('a')}  /r/gone\0${h('a')}  /r/edit\0`)
    const after = parseMark('/r', `f/1//r/keep\0f/1//r/edit\0f/2//r/new2\0f/2//r/new1\0=\0${h('a')}  /r/keep\0${h('b')}  /r/edit\0`)
    expect(diffMarks(before, after)).toEqual({ added: ['/r/new1', '/r/new2'], removed: ['/r/gone'], changed: ['/r/edit'], unchanged: 1 })
    expect(diffMarks(after, after)).toEqual({ added: [], removed: [], changed: [], unchanged: 4 })
  })
})

describe('wait.for probes', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 2 1`
  it('sees a listening port and not an established one', () => {
    expect(listens(tcp, 8080)).toBe(true)
    expect(listens(tcp, 80)).toBe(false)
  })
  it('reads an HTTP status line', () => {
    expect(statusOf('HTTP/1.1 204 No Content\r')).toBe(204)
    expect(statusOf('garbage')).toBeUndefined()
  })
})

describe('http.request responses', async () => {
  const { parseHttpResponse } = await import('./http-request.js')
  it('sorts headers, drops date, parses JSON bodies', () => {
    const raw = 'HTTP/1.1 201 Created\r\nX-B: 2\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\ncontent-type: application/json\r\nx-b: 3\r\n\r\n{"a":1}'
    expect(parseHttpResponse(raw, 1024)).toEqual({ status: 201, headers: { 'content-type': 'application/json', 'x-b': '2, 3' }, body: '{"a":1}', json: { a: 1 }, truncated: false })
  })
  it('refuses what is not HTTP, and marks a cut body', () => {
    expect(() => parseHttpResponse('SSH-2.0-OpenSSH\r\n', 1024)).toThrow(/did not answer HTTP/)
    expect(parseHttpResponse(`HTTP/1.0 200 OK\r\n\r\n${'x'.repeat(100)}`, 50)).toMatchObject({ status: 200, truncated: true })
  })
})
