/**
 * @module bench/network — the egress proxy against going direct, interleaved in one run on loopback:
 * a small HTTP GET (keep-alive both ways), a CONNECT tunnel request (new tunnel, TLS handshake and a GET
 * each time, against a new direct TLS connection), and a 100 MB download. The proxy is the one the
 * server runs (NetworkService over a SQLite store, so every attempt's event is written too), on this
 * thread; the clients and upstream servers run in a worker (bench/network-peer.ts) on their own loop.
 * sandbox-runtime's HTTP proxy (`createHttpProxyServer` of @anthropic-ai/sandbox-runtime 0.0.83, a
 * devDependency, allowing every host) runs beside it on the same thread where it installs: the same
 * small GET and download through it; without the package its rows are left out (a message says why).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { systemClock } from '../core/clock.js'
import { silentLogger } from '../core/log.js'
import { NetworkConfig } from '../network/config.js'
import { NetworkService } from '../network/service.js'
import { openStore } from '../store/db.js'
import type { PeerSamples } from './network-peer.js'
import { figure, machine, metric, type BenchResult } from './result.js'

/**
 * Small GETs with the client and upstream on the proxy's own thread: what the proxy's work adds per
 * request, without the cross-thread wake-ups (which the worker figures include, as a sandbox's would).
 */
async function sameLoopGets(proxyPort: number): Promise<{ direct: number[]; proxy: number[] }> {
  const up = createServer((_q, r) => r.end('ok'))
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r))
  const port = (up.address() as { port: number }).port
  const agents = { direct: new Agent({ keepAlive: true, maxSockets: 1 }), proxy: new Agent({ keepAlive: true, maxSockets: 1 }) }
  const get = (k: 'direct' | 'proxy') =>
    new Promise<void>((resolve, reject) => {
      const q = request({ host: '127.0.0.1', port: k === 'proxy' ? proxyPort : port, path: k === 'proxy' ? `http://bench.test:${port}/` : '/', agent: agents[k] }, (r) => {
        r.resume()
        r.on('end', resolve)
      })
      q.on('error', reject)
      q.end()
    })
  const out = { direct: [] as number[], proxy: [] as number[] }
  try {
    for (let i = 0; i < 200 + 1000; i++) {
      for (const k of ['direct', 'proxy'] as const) {
        const t = performance.now()
        await get(k)
        if (i >= 200) out[k].push(performance.now() - t)
      }
    }
    return out
  } finally {
    agents.direct.destroy()
    agents.proxy.destroy()
    await new Promise<void>((r) => (up.closeAllConnections(), up.close(() => r())))
  }
}

/** sandbox-runtime's HTTP proxy on loopback, or why it cannot run here. */
async function startSrtProxy(): Promise<{ server: Server; port: number } | { skipped: string }> {
  try {
    const spec = '@anthropic-ai/sandbox-runtime/dist/sandbox/http-proxy.js'
    const mod = (await import(spec)) as { createHttpProxyServer(o: { filter: () => boolean }): Server }
    const server = mod.createHttpProxyServer({ filter: () => true })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return { server, port: (server.address() as { port: number }).port }
  } catch (err) {
    return { skipped: `sandbox-runtime's proxy could not start: ${(err as Error).message.split('\n')[0]}` }
  }
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-network-'))
  const store = await openStore(':memory:')
  const config = NetworkConfig.parse({ allowedDomains: ['bench.test'], hosts: { 'bench.test': '127.0.0.1' }, proxy: { host: '127.0.0.1' } })
  const network = new NetworkService({ db: store.db, config, home: dir, clock: systemClock, log: silentLogger })
  let srt: Awaited<ReturnType<typeof startSrtProxy>> | undefined
  try {
    await network.start({ force: true })
    await network.attach({ id: 'sbx_bench', projectId: 'bench' }, '127.0.0.1', { allowedDomains: ['bench.test'], deniedDomains: [] })
    const sameLoop = await sameLoopGets(network.proxy!.httpPort)
    srt = await startSrtProxy()
    if ('skipped' in srt) process.stderr.write(`${srt.skipped}\n`)
    const srtPort = 'port' in srt ? srt.port : undefined
    const worker = new Worker(new URL('./network-peer.js', import.meta.url), { workerData: { proxyPort: network.proxy!.httpPort, srtPort } })
    const s = await new Promise<PeerSamples>((resolve, reject) => {
      worker.once('message', (m: { ok?: PeerSamples; error?: string }) => (m.ok ? resolve(m.ok) : reject(new Error(m.error))))
      worker.once('error', reject)
    })
    await worker.terminate()
    await network.events.flush()
    const events = (await network.listEvents('bench', { limit: 1 })).items.length

    const p50 = (xs: number[]) => metric('x', 'ms', xs).p50
    const added = (k: { direct: number[]; proxy: number[] }) => Math.round((p50(k.proxy) - p50(k.direct)) * 1000) / 1000
    const ratio = Math.round((p50(s.mbps.proxy) / p50(s.mbps.direct)) * 1000) / 10
    const tunnelRatio = Math.round((p50(s.tunnelMbps.proxy) / p50(s.tunnelMbps.direct)) * 1000) / 10
    if (events === 0) throw new Error('the proxy recorded no events')
    return {
      name: 'network',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('small HTTP GET via egress proxy (keep-alive)', 'ms', s.small.proxy, { peer: { name: 'direct', p50: p50(s.small.direct) } }),
        figure('small HTTP GET: added by the proxy (p50)', 'ms', added(s.small), { target: 'p50 <= 0.3 ms' }),
        metric('small HTTP GET via egress proxy, client/upstream on the proxy loop', 'ms', sameLoop.proxy, { peer: { name: 'direct, same loop', p50: p50(sameLoop.direct) } }),
        figure("small HTTP GET: the proxy's own work (p50, one loop, no thread wake-ups)", 'ms', added(sameLoop), { target: 'p50 <= 0.3 ms' }),
        metric('CONNECT tunnel + TLS + GET via egress proxy', 'ms', s.tunnel.proxy, { peer: { name: 'direct TLS + GET', p50: p50(s.tunnel.direct) } }),
        figure('CONNECT tunnel request: added by the proxy (p50)', 'ms', added(s.tunnel), { target: 'p50 <= 0.3 ms' }),
        metric('100 MB download via egress proxy (plain HTTP)', 'MB/s', s.mbps.proxy, { peer: { name: 'direct', p50: p50(s.mbps.direct) } }),
        figure('100 MB download (plain HTTP): proxy throughput / direct', '%', ratio, { target: '>= 90 %' }),
        metric('100 MB download through a CONNECT tunnel', 'MB/s', s.tunnelMbps.proxy, { peer: { name: 'direct TCP', p50: p50(s.tunnelMbps.direct) } }),
        figure('100 MB download (CONNECT tunnel, as HTTPS): proxy throughput / direct', '%', tunnelRatio, { target: '>= 90 %' }),
        ...(s.srt
          ? [
              metric("small HTTP GET via sandbox-runtime's proxy (keep-alive)", 'ms', s.srt.small, { peer: { name: 'direct', p50: p50(s.small.direct) } }),
              figure("small HTTP GET: added by sandbox-runtime's proxy (p50)", 'ms', added({ direct: s.small.direct, proxy: s.srt.small })),
              metric("100 MB download via sandbox-runtime's proxy (plain HTTP)", 'MB/s', s.srt.mbps, { peer: { name: 'direct', p50: p50(s.mbps.direct) } }),
              figure("100 MB download (plain HTTP): sandbox-runtime's proxy throughput / direct", '%', Math.round((p50(s.srt.mbps) / p50(s.mbps.direct)) * 1000) / 10),
            ]
          : []),
      ],
    }
  } finally {
    if (srt && 'server' in srt) {
      const server = srt.server
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    }
    await network.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
