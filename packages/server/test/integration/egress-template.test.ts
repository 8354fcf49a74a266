/**
 * The template level of egress policy, end to end on a LocalRuntime: a build `run` step of a template
 * with `network` reaches an allowed upstream through the proxy (offline it could not) and a denied one
 * gets the proxy's refusal, failing the build; a sandbox from the template has the template level
 * combined with its own (most restrictive wins). Upstreams are real HTTP servers on the host's loopback,
 * reached by names mapped in network.hosts.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiError, createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { childEnv } from '../../src/core/child-env.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { startUpstream } from './support/egress.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const hasNft = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore', env: childEnv() })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(skipReason ?? (hasNft ? undefined : 'needs nftables'))('template network policy (build steps and sandboxes)', () => {
  const cgroupName = `tidepool-it-egtpl-${process.pid}`
  let home: string
  let cp: ControlPlane
  let api: ReturnType<typeof createClient>
  let upstream: Awaited<ReturnType<typeof startUpstream>>

  beforeAll(async () => {
    upstream = await startUpstream()
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-egtpl-'))
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        runtime: { kind: 'local', cgroupName },
        defaults: { cpu: 0.5, memoryMb: 256, pids: 128 },
        network: { proxy: { enabled: true, httpPort: 0, socksPort: 0 }, hosts: { 'pkg.test': '127.0.0.1', 'other.test': '127.0.0.1', 'evil.test': '127.0.0.1' } },
      },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const listening = await cp.listen()
    api = createClient({ baseUrl: listening.url, token: cp.adminToken! })
  }, 120_000)

  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    await upstream?.close()
    rmSync(home, { recursive: true, force: true })
  })

  const url = (host: string, path: string) => `http://${host}:${upstream.port}${path}`

  it('a run step reaches an allowed domain through the proxy, and the layer keeps what it fetched', async () => {
    const t = await api.buildTemplate({
      name: 'online',
      network: { allowedDomains: ['pkg.test', 'other.test'], deniedDomains: ['evil.test'] },
      steps: [{ run: `curl -sSf --max-time 5 -o /opt/fetched.txt ${url('pkg.test', '/build-fetch')} && echo fetched` }],
    })
    expect(t.network).toEqual({ allowedDomains: ['pkg.test', 'other.test'], deniedDomains: ['evil.test'] })
    expect(upstream.seen.some((s) => s.url === '/build-fetch')).toBe(true)
    const id = (await api.createSandbox({ template: 'online' })).id
    try {
      expect((await api.exec({ id, cmd: ['cat', '/opt/fetched.txt'] })).stdout).toBe('hello /build-fetch')
      // The build sandbox's proxy variables are not in the template's env.
      expect((await api.getTemplate({ name: 'online' })).env).not.toHaveProperty('HTTP_PROXY')
    } finally {
      await api.deleteSandbox({ id })
    }
  })

  it('a run step to a denied domain gets the proxy refusal, and the build fails naming the step', async () => {
    const build = api.buildTemplate({
      name: 'denied',
      network: { allowedDomains: ['pkg.test'], deniedDomains: [] },
      steps: [{ run: `curl -sS --max-time 5 -o /dev/null -w 'status %{http_code}\\n' ${url('other.test', '/build-denied')}; exit 3` }],
    })
    const err = await build.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).message).toContain('step 1 (run) exited with 3')
    expect((err as ApiError).message).toContain('status 403')
    expect(upstream.seen.some((s) => s.url === '/build-denied')).toBe(false)
  })

  it('without network, run steps stay offline', async () => {
    const err = await api.buildTemplate({ name: 'offline', steps: [{ run: `curl -sSf --max-time 3 ${url('pkg.test', '/build-offline')}` }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(upstream.seen.some((s) => s.url === '/build-offline')).toBe(false)
  })

  it('a sandbox of the template has the template level combined with its own: most restrictive wins', async () => {
    const sbx = await api.createSandbox({ template: 'online', network: { allowedDomains: ['pkg.test', 'evil.test', 'outside.test'], deniedDomains: ['other.test'] } })
    try {
      const net = await api.getSandboxNetwork({ id: sbx.id })
      expect(net.effective.allow.map((a) => a.level)).toEqual(['template', 'sandbox'])
      expect(net.effective.deny).toEqual([
        { level: 'template', patterns: ['evil.test'] },
        { level: 'sandbox', patterns: ['other.test'] },
      ])
      const status = async (host: string) => (await api.exec({ id: sbx.id, cmd: ['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', url(host, `/sbx-${host}`)] })).stdout
      expect(await status('pkg.test')).toBe('200') // both levels allow it
      expect(await status('other.test')).toBe('403') // the template allows, the sandbox denies
      expect(await status('evil.test')).toBe('403') // the sandbox allows, the template denies
      expect(upstream.seen.some((s) => s.url === '/sbx-pkg.test')).toBe(true)
      expect(upstream.seen.some((s) => s.url === '/sbx-other.test' || s.url === '/sbx-evil.test')).toBe(false)
    } finally {
      await api.deleteSandbox({ id: sbx.id })
    }
  })

  it('leaves no build sandbox, attachment or link behind', async () => {
    await api.deleteTemplate({ name: 'online' })
    expect(leftovers(cgroupName)).toEqual([])
    expect((await cp.svc.runtime.list()).filter((s) => s.startsWith('tpb_'))).toEqual([])
    expect(cp.svc.network.stats().attached).toBe(0)
    const links = execFileSync('ip', ['-o', 'link', 'show'], { env: childEnv(), encoding: 'utf8' })
    expect(links.split('\n').filter((l) => /: tp[0-9a-f]{8}[@:]/.test(l))).toEqual([])
  })
})
