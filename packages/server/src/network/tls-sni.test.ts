import { connect } from 'node:tls'
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { scanClientHello } from './tls-sni.js'

/** The first bytes a real Node TLS client sends for `servername`. */
async function realHello(servername: string | undefined): Promise<Buffer> {
  const server = createServer()
  const got = new Promise<Buffer>((resolve) => server.on('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy()))))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const c = connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false })
  c.on('error', () => {})
  const hello = await got
  c.destroy()
  server.close()
  return hello
}

describe('scanClientHello', () => {
  it('reads the server name of a real ClientHello, in one piece or byte by byte', async () => {
    const hello = await realHello('api.example.com')
    expect(scanClientHello(hello)).toEqual({ kind: 'hello', serverName: 'api.example.com' })
    expect(scanClientHello(hello.subarray(0, 3))).toEqual({ kind: 'need-more' })
    expect(scanClientHello(hello.subarray(0, hello.length - 1))).toEqual({ kind: 'need-more' })
  })
  it('a hello without SNI has no server name', async () => {
    expect(scanClientHello(await realHello(undefined))).toEqual({ kind: 'hello', serverName: undefined })
  })
  it('plain text is not TLS; garbage after a TLS record header is invalid', () => {
    expect(scanClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'not-tls' })
    expect(scanClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).kind).toBe('invalid')
    expect(scanClientHello(Buffer.from([0x16, 3, 1, 0, 0])).kind).toBe('invalid')
  })
  it('refuses a hello claiming to be larger than the bound', () => {
    expect(scanClientHello(Buffer.from([0x16, 3, 1, 0, 8, 1, 0xff, 0xff, 0xff, 3, 3, 0, 0])).kind).toBe('invalid')
  })
})
