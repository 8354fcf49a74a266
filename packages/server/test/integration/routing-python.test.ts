/**
 * The Python example service (examples/routing/service.py) in a real chain: node A → Python B → node C,
 * B propagating the key with the `opentelemetry-api` package's W3CBaggagePropagator (pinned below,
 * installed from PyPI into a venv this test makes). A route group forks B (another Python process) and C:
 * keyed requests cross A, B-fork, C-fork; plain ones A, B, C.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { type App, chainApp, get } from './support/routing-apps.js'

const OTEL_PY = 'opentelemetry-api==1.45.2'
const venv = resolve(import.meta.dirname, '../../../../node_modules/.cache/tidepool-otel-venv')
const python = join(venv, 'bin', 'python')
const hostPython = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p))
const serviceScript = resolve(import.meta.dirname, '../../../../examples/routing/service.py')

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe.skipIf(!hostPython)('a Python service propagating the routing key with opentelemetry (examples/routing/service.py)', () => {
  let home: string
  let cp: ControlPlane
  let api: ReturnType<typeof createClient>
  const apps: App[] = []
  const procs: ChildProcess[] = []
  const urls = new Map<string, string>()

  /** Starts service.py; resolves with its URL once it listens. */
  async function pythonService(name: string, next: string, key?: string): Promise<string> {
    const port = await freePort()
    const child = spawn(python, [serviceScript, name, String(port), next], { env: { PATH: '/usr/bin:/bin', ...(key ? { TIDEPOOL_ROUTING_KEY: key } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] })
    procs.push(child)
    await new Promise<void>((ok, fail) => {
      let err = ''
      child.stdout!.on('data', (c: Buffer) => c.toString().includes('listening') && ok())
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
      child.once('exit', (code) => fail(new Error(`service.py exited ${code}: ${err}`)))
    })
    return `http://127.0.0.1:${port}`
  }

  beforeAll(async () => {
    const has =
      existsSync(python) &&
      spawnSync(python, ['-c', 'import importlib.metadata as m; print(m.version("opentelemetry-api"))'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } }).stdout.trim() === OTEL_PY.split('==')[1]
    if (!has) {
      mkdirSync(resolve(venv, '..'), { recursive: true })
      rmSync(venv, { recursive: true, force: true })
      execFileSync(hostPython!, ['-m', 'venv', venv], { stdio: 'inherit', env: { PATH: '/usr/bin:/bin' } })
      execFileSync(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', OTEL_PY], { stdio: 'inherit', env: { PATH: '/usr/bin:/bin', HOME: tmpdir() } })
    }
    home = mkdtempSync(join(tmpdir(), 'tidepool-routing-py-'))
    const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', port: 0, router: { port: 0 } } })
    cp = await buildControlPlane(config, { runtime: new FakeRuntime(), logger: silentLogger, reaper: false, router: true })
    const listening = await cp.listen()
    api = createClient({ baseUrl: listening.url, token: cp.adminToken! })
    const routed = (s: string) => `http://${s}.pyshop.localhost:${listening.routerPort}`
    const a = await chainApp('a', () => routed('b'))
    const c = await chainApp('c', () => undefined)
    apps.push(a, c)
    const b = await pythonService('b-py', routed('c'))
    await api.createEnvironment({
      name: 'pyshop',
      services: [
        { name: 'a', upstream: a.url },
        { name: 'b', upstream: b },
        { name: 'c', upstream: c.url },
      ],
    })
    urls.set('a', routed('a'))
  }, 300_000)

  afterAll(async () => {
    for (const p of procs) p.kill()
    await cp?.close()
    for (const a of apps) await a.close()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('carries the key through the Python hop: keyed A → B-fork → C-fork, plain A → B → C', async () => {
    const bFork = await pythonService('b-py-fork', `http://c.pyshop.localhost:${new URL(urls.get('a')!).port}`, 'pr-py')
    const cFork = await chainApp('c-fork', () => undefined)
    apps.push(cFork)
    await api.createFork({ env: 'pyshop', service: 'b', upstream: bFork, routingKey: 'pr-py' })
    await api.createFork({ env: 'pyshop', service: 'c', upstream: cFork.url, routingKey: 'pr-py' })
    const keyed = JSON.parse((await get(`${urls.get('a')}/chain`, { baggage: 'userId=7,tidepool-route=pr-py' })).body) as { chain: string[]; servedBy: string[] }
    expect(keyed).toEqual({ chain: ['a', 'b-py-fork', 'c-fork'], servedBy: ['b@pr-py', 'c@pr-py'] })
    const plain = JSON.parse((await get(`${urls.get('a')}/chain`)).body) as { chain: string[] }
    expect(plain.chain).toEqual(['a', 'b-py', 'c'])
  })
})
