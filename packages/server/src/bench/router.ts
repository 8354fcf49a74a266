/**
 * @module bench/router — what the request router costs: a small GET to an echo server directly, through
 * the router (keyed: x-tidepool-route selects a fork), and through Debian's nginx doing the same header
 * routing (`map $http_x_tidepool_route`), each in its own process on loopback. Latency from paired,
 * interleaved sequential requests on one keep-alive connection (sub-millisecond resolution); throughput
 * from autocannon at a fixed concurrency for a bounded time, interleaved rounds. nginx is skipped, with
 * the reason on stderr, when it is not installed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { childEnv } from '../core/child-env.js'
import { figure, machine, metric, type BenchResult, type Metric } from './result.js'

const samples = 2000
const warmup = 200
const connections = 32
const rounds = 3
const roundSeconds = 4
const KEY = 'bench-key'

/** Two echo servers (baseline and fork) in one process; prints both ports. */
const echoJs = `const http = require('node:http')
const a = http.createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', () => {
  const b = http.createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', () => console.log('listening ' + a.address().port + ' ' + b.address().port))
})`

/** The router with a static table: environment bench, service echo, a fork for KEY. */
const routerJs = (baseline: number, fork: number) => `
const { RequestRouter } = await import(${JSON.stringify(new URL('../router/router.js', import.meta.url).href)})
const { RouteMetrics } = await import(${JSON.stringify(new URL('../router/metrics.js', import.meta.url).href)})
const services = new Map([['echo', { baseline: { url: 'http://127.0.0.1:${baseline}' }, forks: new Map([['${KEY}', { url: 'http://127.0.0.1:${fork}' }]]) }]])
const table = new Map([['bench', { name: 'bench', project: 'bench', services }]])
const log = { debug() {}, info() {}, warn() {}, error() {}, child() { return log } }
const config = { host: '127.0.0.1', port: 0, connectTimeoutMs: 5000, responseTimeoutMs: 30000, maxSocketsPerUpstream: 256, trustRoutingHeaders: true }
const r = new RequestRouter({ source: { routeTable: async () => table, onChange: () => () => {} }, config, metrics: new RouteMetrics(), log })
const { port } = await r.listen()
console.log('listening ' + port)
`

const nginxConf = (dir: string, port: number, baseline: number, fork: number) => `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream baseline { server 127.0.0.1:${baseline}; keepalive 64; }
  upstream fork { server 127.0.0.1:${fork}; keepalive 64; }
  map $http_x_tidepool_route $route { default baseline; "${KEY}" fork; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://$route;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header x-tidepool-served-by "echo@$route" always;
    }
  }
}
`

/** Starts a child and resolves with the numbers it prints after "listening". */
function start(args: string[], cwd: string): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(process.execPath, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const line = out.split('\n').find((l) => l.startsWith('listening '))
      if (line) resolve({ child, ports: line.slice('listening '.length).trim().split(' ').map(Number) })
    })
    child.once('exit', (code) => reject(new Error(`${args.join(' ').slice(0, 60)} exited (${code}) before it listened`)))
  })
}

function get(agent: Agent, port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** A free port for nginx (it cannot report the one it bound). */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

const nginxBin = () => ['/usr/sbin/nginx', '/usr/bin/nginx'].find((b) => spawnSync(b, ['-v'], { env: childEnv() }).status === 0)

/** The bench's setup: Debian's nginx where it is missing (as root, through apt; never started as a service). */
function ensureNginx(): string | undefined {
  const found = nginxBin()
  if (found || process.getuid?.() !== 0) return found
  process.stderr.write('  installing nginx (apt-get install nginx-light) for the router bench\n')
  const env = { ...childEnv(), DEBIAN_FRONTEND: 'noninteractive' }
  // policy-rc.d exit 101: the package's postinst must not start a system nginx on port 80.
  const policy = '/usr/sbin/policy-rc.d'
  const hadPolicy = spawnSync('test', ['-e', policy]).status === 0
  if (!hadPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 })
  try {
    const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx-light'], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 })
    if (r.status !== 0) spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 })
  } finally {
    if (!hadPolicy) rmSync(policy, { force: true })
  }
  return nginxBin()
}

async function startNginx(dir: string, baseline: number, fork: number): Promise<{ child: ChildProcess; port: number } | string> {
  const bin = ensureNginx()
  if (!bin) return 'nginx is not installed and could not be (Debian: apt-get install nginx-light, as root)'
  const port = await freePort()
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d), { recursive: true })
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port, baseline, fork))
  const child = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { env: childEnv(), stdio: 'ignore' })
  const agent = new Agent({ keepAlive: false })
  for (let i = 0; i < 100; i++) {
    try {
      if ((await get(agent, port, {})) === 200) return { child, port }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill()
  return `nginx did not answer on 127.0.0.1:${port} (see ${dir}/error.log)`
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-router-'))
  const children: ChildProcess[] = []
  try {
    const echo = await start(['-e', echoJs], dir)
    children.push(echo.child)
    const [baseline, fork] = echo.ports as [number, number]
    const router = await start(['--input-type=module', '-e', routerJs(baseline, fork)], dir)
    children.push(router.child)
    const nginx = await startNginx(dir, baseline, fork)
    if (typeof nginx === 'string') process.stderr.write(`  nginx peer skipped: ${nginx}\n`)
    else children.push(nginx.child)

    const keyed = { 'x-tidepool-route': KEY }
    const routerHost = { ...keyed, host: `echo.bench.localhost:${router.ports[0]}` }
    const targets: Record<string, { port: number; headers: Record<string, string> }> = {
      direct: { port: fork, headers: {} },
      router: { port: router.ports[0]!, headers: routerHost },
      ...(typeof nginx === 'string' ? {} : { nginx: { port: nginx.port, headers: keyed } }),
    }
    const names = Object.keys(targets)
    // Latency: paired rounds, one keep-alive connection each.
    const agents = Object.fromEntries(names.map((n) => [n, new Agent({ keepAlive: true, maxSockets: 1 })]))
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
    for (let i = 0; i < warmup + samples; i++) {
      for (const n of names) {
        const t = performance.now()
        const status = await get(agents[n]!, targets[n]!.port, targets[n]!.headers)
        if (status !== 200) throw new Error(`GET ${n} answered ${status}`)
        if (i >= warmup) times[n]!.push(performance.now() - t)
      }
    }
    for (const a of Object.values(agents)) a.destroy()
    // Throughput: autocannon at fixed concurrency, interleaved rounds.
    const rps: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
    const p99: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
    for (let r = 0; r < rounds; r++) {
      for (const n of names) {
        const res = await autocannon({ url: `http://127.0.0.1:${targets[n]!.port}/`, connections, duration: roundSeconds, headers: targets[n]!.headers })
        if (res.errors + res.non2xx + res.timeouts > 0) throw new Error(`autocannon ${n}: ${res.errors} errors, ${res.non2xx} non-2xx, ${res.timeouts} timeouts`)
        rps[n]!.push(res.requests.average)
        p99[n]!.push(res.latency.p99)
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    const directP50 = metric('x', 'ms', times.direct!).p50
    const added = times.router!.map((x, i) => x - times.direct![i]!)
    const metrics: Metric[] = [
      metric('GET direct (sequential, keep-alive)', 'ms', times.direct!),
      metric('GET via router (keyed → fork)', 'ms', times.router!, { peer: { name: 'direct', p50: directP50 } }),
      metric('added latency via router (paired with direct)', 'ms', added, { target: 'p50 ≤ 0.2 ms, p99 ≤ 1 ms' }),
    ]
    if (times.nginx) metrics.push(metric('GET via nginx (map $http_x_tidepool_route)', 'ms', times.nginx, { peer: { name: 'direct', p50: directP50 } }))
    const nginxRps = rps.nginx ? mean(rps.nginx) : undefined
    metrics.push(figure(`throughput direct (c=${connections})`, 'req/s', mean(rps.direct!)))
    metrics.push(
      figure(`throughput via router (c=${connections})`, 'req/s', mean(rps.router!), {
        target: '≥ 70 % of nginx',
        ...(nginxRps !== undefined ? { peer: { name: 'nginx, same header routing, 1 worker', p50: Math.round(nginxRps) } } : {}),
      }),
    )
    if (nginxRps !== undefined) metrics.push(figure(`throughput via nginx (c=${connections})`, 'req/s', nginxRps))
    metrics.push(figure(`autocannon p99 via router (c=${connections})`, 'ms', mean(p99.router!)))
    return { name: 'router', at: new Date().toISOString(), machine: machine(), metrics }
  } finally {
    for (const c of children) c.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}
