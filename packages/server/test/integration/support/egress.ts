/** Helpers for the egress proxy tests: a tiny UDP DNS server, a recording upstream, a SOCKS5 client, a self-signed certificate. */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'

/** A DNS server on loopback answering A queries from `answers` (a list per name: one answer per query, the last repeated). */
export async function startDns(answers: Record<string, string[]>): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const sock: UdpSocket = createSocket('udp4')
  const queries: string[] = []
  const served = new Map<string, number>()
  sock.on('message', (msg, rinfo) => {
    // Question name: labels from byte 12.
    const labels: string[] = []
    let p = 12
    while (p < msg.length && msg[p]! > 0) {
      labels.push(msg.subarray(p + 1, p + 1 + msg[p]!).toString('latin1'))
      p += 1 + msg[p]!
    }
    const qEnd = p + 5
    const name = labels.join('.').toLowerCase()
    const qtype = msg.readUInt16BE(p + 1)
    const list = answers[name]
    let rdata: Buffer | undefined
    if (qtype === 1 && list) {
      queries.push(name)
      const n = served.get(name) ?? 0
      served.set(name, n + 1)
      rdata = Buffer.from(list[Math.min(n, list.length - 1)]!.split('.').map(Number))
    }
    const header = Buffer.alloc(12)
    msg.copy(header, 0, 0, 2)
    header.writeUInt16BE(list ? 0x8180 : 0x8183, 2) // NOERROR or NXDOMAIN
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(rdata ? 1 : 0, 6)
    const answer = rdata ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]), rdata]) : Buffer.alloc(0)
    sock.send(Buffer.concat([header, msg.subarray(12, qEnd), answer]), rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  return { port: sock.address().port, queries, close: () => new Promise((r) => sock.close(() => r())) }
}

export interface Recorded {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

/** An HTTP server on loopback that records every request and answers `hello <path>`. */
export async function startUpstream(): Promise<{ port: number; seen: Recorded[]; server: Server; close(): Promise<void> }> {
  const seen: Recorded[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      res.end(`hello ${req.url}`)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as { port: number }).port, seen, server, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) }
}

export { selfSigned } from '../../../src/bench/network-peer.js'

/** Connect through a SOCKS5 proxy to host:port (by name); resolves with the open socket, or rejects with the reply code. */
export function socksConnect(proxyPort: number, host: string, port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: proxyPort, ...(localAddress ? { localAddress } : {}) })
    let buf = Buffer.alloc(0)
    let stage = 0
    s.on('error', reject)
    s.on('close', () => reject(new Error(`closed during the SOCKS handshake (stage ${stage})`)))
    s.on('connect', () => s.write(Buffer.from([5, 1, 0])))
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (stage === 0 && buf.length >= 2) {
        if (buf[1] !== 0) return reject(new Error(`no acceptable method (${buf[1]})`))
        buf = buf.subarray(2)
        stage = 1
        const name = Buffer.from(host, 'latin1')
        const req = Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([port >> 8, port & 0xff])])
        s.write(req)
      }
      if (stage === 1 && buf.length >= 10) {
        stage = 2
        s.off('data', onData)
        s.removeAllListeners('close')
        if (buf[1] !== 0) return reject(Object.assign(new Error(`SOCKS reply ${buf[1]}`), { reply: buf[1] }))
        resolve(s)
      }
    }
    s.on('data', onData)
  })
}
