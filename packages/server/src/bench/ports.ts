/**
 * @module bench/ports — the latency port exposure adds to a small HTTP GET: the same server (a tiny node
 * script) inside a sandbox, reached through the API server on the host-name and the path forms, and on
 * the host, reached directly; interleaved in one run, keep-alive from the client to the API (and to the
 * direct server), each proxied request opening its own stream into the sandbox (as the proxy does).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { childEnv } from '../core/child-env.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { machine, metric, type BenchResult } from './result.js'

const samples = 300
const warmup = 30
const insidePort = 8000
/** Answers every request with 2 bytes; prints its port once it listens. */
const serverJs = (port: number) => `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1', function () { console.log('listening ' + this.address().port) })`

function get(agent: Agent, port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export async function run(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-ports-'))
  const cgroupName = `tidepool-bench-ports-${process.pid}`
  const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128 } } })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  const script = join(home, 'server.js')
  writeFileSync(script, serverJs(0))
  const direct = spawn(process.execPath, [script], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    const { url, port: apiPort } = await cp.listen()
    const token = cp.adminToken!
    const api = createClient({ baseUrl: url, token })
    const directPort = await new Promise<number>((resolve, reject) => {
      direct.stdout.on('data', (c: Buffer) => {
        const m = /listening (\d+)/.exec(c.toString())
        if (m) resolve(Number(m[1]))
      })
      direct.once('exit', (code) => reject(new Error(`the direct server exited (${code})`)))
    })
    const { id } = await api.createSandbox({})
    await api.writeFile({ id, path: '/tmp/server.js', content: new TextEncoder().encode(serverJs(insidePort)) })
    await api.exec({ id, cmd: ['node', '/tmp/server.js'], background: true })
    const auth = { authorization: `Bearer ${token}` }
    const host = { ...auth, host: `${insidePort}-${id}.sandbox.localhost:${apiPort}` }
    for (let i = 0; i < 200 && (await get(agent, apiPort, `/v1/sandboxes/${id}/ports/${insidePort}/`, auth)) !== 200; i++) await sleep(50)
    const kinds = {
      direct: () => get(agent, directPort, '/', {}),
      host: () => get(agent, apiPort, '/', host),
      path: () => get(agent, apiPort, `/v1/sandboxes/${id}/ports/${insidePort}/`, auth),
    }
    const times: Record<keyof typeof kinds, number[]> = { direct: [], host: [], path: [] }
    for (let i = 0; i < warmup + samples; i++) {
      // Interleaved: each round times all three, so drift on a shared machine hits them alike.
      for (const k of Object.keys(kinds) as (keyof typeof kinds)[]) {
        const t = performance.now()
        const status = await kinds[k]()
        if (status !== 200) throw new Error(`GET ${k} answered ${status}`)
        if (i >= warmup) times[k].push(performance.now() - t)
      }
    }
    await api.deleteSandbox({ id })
    const directP50 = metric('x', 'ms', times.direct).p50
    const peer = { name: 'direct to the same server on the host', p50: directP50 }
    const added = (xs: number[]) => xs.map((x, i) => x - times.direct[i]!)
    return {
      name: 'ports',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('small GET direct on the host', 'ms', times.direct),
        metric('small GET via port exposure (host-name form)', 'ms', times.host, { peer }),
        metric('small GET via port exposure (path form)', 'ms', times.path, { peer }),
        metric('added latency, host-name form (paired with direct)', 'ms', added(times.host)),
        metric('added latency, path form (paired with direct)', 'ms', added(times.path)),
      ],
    }
  } finally {
    agent.destroy()
    direct.kill()
    await cp.close()
    const local = namespacesLevel(cp.svc.runtime)
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    rmSync(home, { recursive: true, force: true })
  }
}
