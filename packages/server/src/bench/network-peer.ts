/**
 * @module bench/network-peer — the far ends of the network bench, in a worker thread: the upstream
 * servers and the clients, on their own event loop, so the proxy (on the main thread, as in the server)
 * does not share one loop with both ends of its own traffic. Measures direct and via the proxy,
 * interleaved, and posts the samples back.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, createServer, request, type IncomingMessage } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { parentPort, workerData } from 'node:worker_threads'
import { childEnv } from '../core/child-env.js'

export interface PeerSamples {
  small: { direct: number[]; proxy: number[] }
  tunnel: { direct: number[]; proxy: number[] }
  mbps: { direct: number[]; proxy: number[] }
  tunnelMbps: { direct: number[]; proxy: number[] }
  /** Through sandbox-runtime's HTTP proxy (when it runs): the same small GET and download. */
  srt?: { small: number[]; mbps: number[] }
}

const samples = 400
const warmup = 50
const tunnelSamples = 100
const downloadRuns = 5
export const downloadBytes = 100 * 1024 * 1024
const chunk = Buffer.alloc(1024 * 1024, 0x61)

/** A self-signed certificate for `names` (the first is the CN), made with the openssl CLI; nothing is left on disk. */
export function selfSigned(names: string[]): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'egress-cert-'))
  try {
    const san = names.map((n) => `DNS:${n}`).join(',')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${names[0]}`,
        '-addext',
        `subjectAltName=${san}`,
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      {
        env: childEnv(),
        stdio: 'ignore',
      },
    )
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function get(o: { port: number; path: string; agent: Agent; proxied: boolean; upstreamPort: number; host?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const path = o.proxied ? `http://${o.host ?? 'bench.test'}:${o.upstreamPort}${o.path}` : o.path
    const req = request({ host: '127.0.0.1', port: o.port, path, agent: o.agent }, (res: IncomingMessage) => {
      let n = 0
      res.on('data', (d: Buffer) => (n += d.length))
      res.on('end', () => resolve(n))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A TLS GET over `socket` (a tunnel) or a new connection; resolves when the response is read. */
function tlsGet(o: { socket?: Socket; port: number; ca: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const t: TLSSocket = tlsConnect({ ...(o.socket ? { socket: o.socket } : { host: '127.0.0.1', port: o.port }), servername: 'bench.test', ca: o.ca })
    t.on('secureConnect', () => t.write('GET / HTTP/1.1\r\nhost: bench.test\r\nconnection: close\r\n\r\n'))
    t.on('data', () => {})
    t.on('error', reject)
    t.on('close', () => resolve())
  })
}

function connectTunnel(proxyPort: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port: proxyPort, noDelay: true })
    s.on('error', reject)
    s.once('connect', () => s.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`))
    let head = ''
    const onData = (d: Buffer) => {
      head += d.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      s.off('data', onData)
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(`CONNECT refused: ${head.split('\r\n')[0]}`))
      resolve(s)
    }
    s.on('data', onData)
  })
}

/** GET /big over a raw socket (direct, or a CONNECT tunnel: how HTTPS downloads pass the proxy); bytes read. */
function rawDownload(s: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0
    s.on('data', (d: Buffer) => (n += d.length))
    s.on('error', reject)
    s.on('end', () => resolve(n))
    s.write('GET /big HTTP/1.1\r\nhost: bench.test\r\nconnection: close\r\n\r\n')
  })
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port, noDelay: true })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

async function measure(proxyPort: number, srtPort: number | undefined): Promise<PeerSamples> {
  const upstream = createServer((req, res) => {
    if (req.url !== '/big') return void res.end('ok')
    res.writeHead(200, { 'content-length': downloadBytes })
    let sent = 0
    const pump = () => {
      while (sent < downloadBytes) {
        sent += chunk.length
        if (!res.write(chunk)) return void res.once('drain', pump)
      }
      res.end()
    }
    pump()
  })
  const cert = selfSigned(['bench.test'])
  const tls = createHttpsServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.end('ok'))
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r))
  const upPort = (upstream.address() as { port: number }).port
  const tlsPort = (tls.address() as { port: number }).port
  const direct = new Agent({ keepAlive: true, maxSockets: 1 })
  const proxied = new Agent({ keepAlive: true, maxSockets: 1 })
  const viaSrt = new Agent({ keepAlive: true, maxSockets: 1 })
  // sandbox-runtime's proxy resolves names itself: it is given the upstream's address.
  const srt = (path: string) => get({ port: srtPort!, path, agent: viaSrt, proxied: true, upstreamPort: upPort, host: '127.0.0.1' })
  const out: PeerSamples = { small: { direct: [], proxy: [] }, tunnel: { direct: [], proxy: [] }, mbps: { direct: [], proxy: [] }, tunnelMbps: { direct: [], proxy: [] } }
  try {
    for (let i = 0; i < warmup + samples; i++) {
      for (const k of ['direct', 'proxy'] as const) {
        const t = performance.now()
        await get({ port: k === 'direct' ? upPort : proxyPort, path: '/', agent: k === 'direct' ? direct : proxied, proxied: k === 'proxy', upstreamPort: upPort })
        if (i >= warmup) out.small[k].push(performance.now() - t)
      }
      if (srtPort !== undefined) {
        const t = performance.now()
        await srt('/')
        if (i >= warmup) (out.srt ??= { small: [], mbps: [] }).small.push(performance.now() - t)
      }
    }
    for (let i = 0; i < 10 + tunnelSamples; i++) {
      let t = performance.now()
      await tlsGet({ port: tlsPort, ca: cert.cert })
      if (i >= 10) out.tunnel.direct.push(performance.now() - t)
      t = performance.now()
      await tlsGet({ socket: await connectTunnel(proxyPort, `bench.test:${tlsPort}`), port: tlsPort, ca: cert.cert })
      if (i >= 10) out.tunnel.proxy.push(performance.now() - t)
    }
    for (let i = 0; i < 1 + downloadRuns; i++) {
      for (const k of ['direct', 'proxy'] as const) {
        const t = performance.now()
        const n = await get({ port: k === 'direct' ? upPort : proxyPort, path: '/big', agent: k === 'direct' ? direct : proxied, proxied: k === 'proxy', upstreamPort: upPort })
        if (n !== downloadBytes) throw new Error(`download got ${n} bytes, expected ${downloadBytes}`)
        if (i >= 1) out.mbps[k].push(n / 2 ** 20 / ((performance.now() - t) / 1000))
      }
      if (srtPort !== undefined) {
        const t = performance.now()
        const n = await srt('/big')
        if (n !== downloadBytes) throw new Error(`download via sandbox-runtime got ${n} bytes, expected ${downloadBytes}`)
        if (i >= 1) (out.srt ??= { small: [], mbps: [] }).mbps.push(n / 2 ** 20 / ((performance.now() - t) / 1000))
      }
    }
    for (let i = 0; i < 1 + downloadRuns; i++) {
      for (const k of ['direct', 'proxy'] as const) {
        const t = performance.now()
        const n = await rawDownload(k === 'direct' ? await tcp(upPort) : await connectTunnel(proxyPort, `bench.test:${upPort}`))
        if (n < downloadBytes) throw new Error(`tunnel download got ${n} bytes, expected ${downloadBytes} and headers`)
        if (i >= 1) out.tunnelMbps[k].push(downloadBytes / 2 ** 20 / ((performance.now() - t) / 1000))
      }
    }
    return out
  } finally {
    direct.destroy()
    proxied.destroy()
    viaSrt.destroy()
    await new Promise<void>((r) => (upstream.closeAllConnections(), upstream.close(() => r())))
    await new Promise<void>((r) => (tls.closeAllConnections(), tls.close(() => r())))
  }
}

if (parentPort && workerData) {
  const { proxyPort, srtPort } = workerData as { proxyPort: number; srtPort?: number }
  measure(proxyPort, srtPort).then(
    (s) => parentPort!.postMessage({ ok: s }),
    (err: unknown) => parentPort!.postMessage({ error: String((err as Error).stack ?? err) }),
  )
}
