/**
 * `tidepool env …` and `tidepool router` for real: the built CLI against a control plane on loopback,
 * and the router as a sidecar process that reads the environments from the API and routes a keyed request to a fork.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { childEnv } from '../../src/core/child-env.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { cliRunner } from './support/cli.js'
import { cliPath } from './support/host.js'
import { type App, get, streamApp } from './support/routing-apps.js'

describe('tidepool env and tidepool router (built CLI)', () => {
  let home: string
  let cp: ControlPlane
  let env: NodeJS.ProcessEnv
  let cli: ReturnType<typeof cliRunner>
  const apps: App[] = []

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-routing-cli-'))
    const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', port: 0, router: { port: 0 } } })
    cp = await buildControlPlane(config, { runtime: new FakeRuntime(), logger: silentLogger, reaper: false, router: true })
    const { url } = await cp.listen()
    env = { ...childEnv(), TIDEPOOL_URL: url, TIDEPOOL_TOKEN: cp.adminToken!, TIDEPOOL_HOME: home }
    cli = cliRunner(env)
    apps.push(await streamApp('base'), await streamApp('fork'))
  })

  afterAll(async () => {
    await cp?.close()
    for (const a of apps) await a.close()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('creates, shows, forks, lists and removes environments; a sidecar router routes by key', async () => {
    const created = await cli('env', 'create', 'web', '--service', `front=${apps[0]!.url}`, '--json')
    expect(created.status, created.stderr).toBe(0)
    expect(JSON.parse(created.stdout).services[0]).toMatchObject({ name: 'front', upstream: apps[0]!.url, url: expect.stringMatching(/^http:\/\/front\.web\.localhost:\d+$/) })
    const bad = await cli('env', 'create', 'web2', '--service', 'front')
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toContain('<name>=<url>')
    const forked = await cli('env', 'fork', 'web', 'front', apps[1]!.url, '--key', 'pr-7', '--json')
    expect(forked.status, forked.stderr).toBe(0)
    const fork = JSON.parse(forked.stdout) as { id: string; routingKey: string }
    expect(fork.routingKey).toBe('pr-7')
    const forks = await cli('env', 'forks', 'web')
    expect(forks.stdout).toContain('key=pr-7')
    expect(forks.stdout).toContain(' up')
    expect(JSON.parse((await cli('env', 'get', 'web', '--json')).stdout).forks).toHaveLength(1)
    expect((await cli('env', 'ls')).stdout).toContain('web  1 services  1 forks')

    // The sidecar: its own process and port, routes read from the API.
    const router = spawn(process.execPath, [cliPath, 'router', '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let err = ''
        router.stderr.on('data', (c: Buffer) => {
          err += c.toString()
          const at = err.indexOf('tidepool router on http://127.0.0.1:')
          if (at !== -1 && err.indexOf(' ', at + 36) !== -1) resolve(err.slice(at + 36, err.indexOf(' ', at + 36)))
        })
        router.once('exit', (code) => reject(new Error(`tidepool router exited (${code}): ${err}`)))
      })
      const keyed = await get(`http://front.web.localhost:${port}/`, { baggage: 'tidepool-route=pr-7' })
      expect([keyed.body, keyed.headers['x-tidepool-served-by']]).toEqual(['fork', 'front@pr-7'])
      expect((await get(`http://front.web.localhost:${port}/`)).body).toBe('base')
    } finally {
      router.kill()
    }

    // Through the control plane's own router: the hop is in env trace, the fork in env events and env cost.
    const routed = (JSON.parse(created.stdout) as { services: { url: string }[] }).services[0]!.url
    expect((await get(`${routed}/`, { 'x-tidepool-route': 'pr-7' })).body).toBe('fork')
    const trace = await cli('env', 'trace', 'web', '--key', 'pr-7', '--json')
    expect(trace.status, trace.stderr).toBe(0)
    expect(JSON.parse(trace.stdout).items[0].hops[0]).toMatchObject({ service: 'front', target: 'pr-7', status: 200 })
    expect((await cli('env', 'trace', 'web', '--key', 'pr-7')).stdout).toMatch(/front@pr-7 {2}200/)
    expect((await cli('env', 'events', 'web')).stdout).toContain('fork_added')
    const cost = await cli('env', 'cost', 'web')
    expect(cost.status, cost.stderr).toBe(0)
    expect(cost.stdout).toContain('full copy: 0 CPU, 0 MiB')
    expect(cost.stdout).toContain('no declared resources and nothing measured')

    expect((await cli('env', 'unfork', 'web', fork.id)).status).toBe(0)
    expect((await cli('env', 'rm', 'web')).status).toBe(0)
    expect((await cli('env', 'rm', 'web')).status).toBe(0)
    const gone = await cli('env', 'get', 'web')
    expect(gone.status).not.toBe(0)
    expect(gone.stderr).toContain('environment web not found')
  })
})
