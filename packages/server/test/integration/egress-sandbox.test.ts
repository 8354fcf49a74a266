/**
 * Egress end to end: a LocalRuntime sandbox with its own link to the host reaches an allowed domain
 * through tidepool's proxy (curl inside, following the HTTP_PROXY the sandbox was given) and nothing
 * else — a denied domain gets the proxy's 403, and going around the proxy to the same server fails.
 * The upstream is a real HTTP server on the host's loopback, reached by a name mapped in network.hosts.
 * With TLS termination configured, the sandbox trusts tidepool's CA (a bundle and the variables naming
 * it): curl reaches an HTTPS upstream without -k and the brokered header is added on the way.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { childEnv } from '../../src/core/child-env.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { selfSigned, startUpstream } from './support/egress.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const hasNft = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore', env: childEnv() })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(skipReason ?? (hasNft ? undefined : 'needs nftables'))('egress through the proxy from a real sandbox', () => {
  const cgroupName = `tidepool-it-egress-${process.pid}`
  let home: string
  let cp: ControlPlane
  let api: ReturnType<typeof createClient>
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let id: string
  let https: HttpsServer
  let httpsPort: number
  const httpsSeen: { url: string; headers: IncomingHttpHeaders }[] = []
  const secretValue = `s3cret-${process.pid}-brokered`

  beforeAll(async () => {
    upstream = await startUpstream()
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-egress-'))
    // The HTTPS upstream's certificate is its own (the proxy trusts it through upstreamCaFiles); the
    // sandbox sees the certificate tidepool's CA signs for brokered.test.
    const cert = selfSigned(['brokered.test'])
    writeFileSync(join(home, 'upstream-ca.pem'), cert.cert)
    https = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => (httpsSeen.push({ url: req.url ?? '', headers: req.headers }), req.resume(), res.end('tls hello')))
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r))
    httpsPort = (https.address() as { port: number }).port
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        runtime: { kind: 'local', cgroupName },
        defaults: { cpu: 0.5, memoryMb: 256, pids: 128 },
        network: {
          proxy: { enabled: true, httpPort: 0, socksPort: 0 },
          hosts: { 'api.test': '127.0.0.1', 'other.test': '127.0.0.1', 'brokered.test': '127.0.0.1' },
          credentials: [
            { domains: ['api.test'], headers: { authorization: { secret: 'api-token', format: 'Bearer {secret}' } } },
            { domains: ['brokered.test'], headers: { authorization: { secret: 'api-token', format: 'Bearer {secret}' } }, terminateTls: true },
          ],
          upstreamCaFiles: [join(home, 'upstream-ca.pem')],
        },
      },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const listening = await cp.listen()
    api = createClient({ baseUrl: listening.url, token: cp.adminToken! })
    await api.createSecret({ name: 'api-token', value: secretValue })
    id = (await api.createSandbox({ network: { allowedDomains: ['api.test', 'brokered.test'], deniedDomains: [] } })).id
  }, 120_000)

  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    await upstream?.close()
    await new Promise<void>((r) => (https ? (https.closeAllConnections(), https.close(() => r())) : r()))
    rmSync(home, { recursive: true, force: true })
  })

  const curl = (...args: string[]) => api.exec({ id, cmd: ['curl', '-sS', '--max-time', '5', ...args] })

  it('reaches the allowed domain through the proxy the sandbox was given', async () => {
    const env = await api.exec({ id, cmd: ['sh', '-c', 'echo "$HTTP_PROXY"'] })
    expect(env.stdout.trim()).toMatch(/^http:\/\/10\.200\.0\.1:\d+$/)
    const r = await curl(`http://api.test:${upstream.port}/from-inside`)
    expect(r).toMatchObject({ exitCode: 0 })
    expect(r.stdout).toContain('hello /from-inside')
    expect(upstream.seen.some((s) => s.url === '/from-inside')).toBe(true)
  })

  it('adds the brokered credential on the way out; the secret is nowhere inside the sandbox', async () => {
    const r = await curl(`http://api.test:${upstream.port}/brokered`)
    expect(r.exitCode).toBe(0)
    const seen = upstream.seen.find((s) => s.url === '/brokered')
    expect(seen?.headers.authorization).toBe(`Bearer ${secretValue}`)
    // Not in the sandbox's env, files, process list or any process's /proc (environ and cmdline). The
    // probe gets the value in two halves, so its own command line never holds it whole.
    const half = secretValue.length >> 1
    const look = await api.exec({
      id,
      user: 'root',
      cmd: [
        'sh',
        '-c',
        'env; ps -eo args; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" "\\n"; grep -rsl "$1$2" /etc /home /tmp /workspace /root 2>/dev/null; true',
        'look',
        secretValue.slice(0, half),
        secretValue.slice(half),
      ],
    })
    expect(look.stdout).toContain('HTTP_PROXY') // the probe saw the environment
    expect(look.stdout).not.toContain(secretValue)
  })

  it("trusts tidepool's CA: HTTPS with TLS termination works without -k, the header brokered, the secret not inside", async () => {
    const env = await api.exec({ id, cmd: ['sh', '-c', 'echo "$SSL_CERT_FILE $CURL_CA_BUNDLE $NODE_EXTRA_CA_CERTS"; grep -c "BEGIN CERTIFICATE" "$SSL_CERT_FILE"'] })
    const [paths, count] = env.stdout.trim().split('\n')
    expect(paths).toBe('/etc/ssl/tidepool/ca-bundle.pem /etc/ssl/tidepool/ca-bundle.pem /etc/ssl/tidepool/ca-bundle.pem')
    // The system roots and the CA (the host's bundle has many): public roots still verify.
    expect(Number(count)).toBeGreaterThan(1)
    const r = await curl(`https://brokered.test:${httpsPort}/tls`)
    expect(r).toMatchObject({ exitCode: 0, stdout: 'tls hello' })
    expect(httpsSeen.find((s) => s.url === '/tls')?.headers.authorization).toBe(`Bearer ${secretValue}`)
    // Without the bundle curl refuses the certificate the proxy presented: the trust is what made it work.
    const untrusted = await api.exec({ id, cmd: ['env', '-u', 'SSL_CERT_FILE', '-u', 'CURL_CA_BUNDLE', 'curl', '-sS', '--max-time', '5', `https://brokered.test:${httpsPort}/untrusted`] })
    expect(untrusted.exitCode).toBe(60) // curl: peer certificate cannot be authenticated with known CA certificates
    const half = secretValue.length >> 1
    const look = await api.exec({ id, user: 'root', cmd: ['sh', '-c', 'grep -rsl "$1$2" /etc /home /tmp /workspace /root; env', 'look', secretValue.slice(0, half), secretValue.slice(half)] })
    expect(look.stdout).toContain('SSL_CERT_FILE')
    expect(look.stdout).not.toContain(secretValue)
  })

  it('refuses a domain the policy does not allow, with the proxy naming why', async () => {
    const r = await curl('-i', `http://other.test:${upstream.port}/nope`)
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/)
    expect(r.stdout.toLowerCase()).toContain('x-tidepool-egress')
    expect(upstream.seen.some((s) => s.url === '/nope')).toBe(false)
  })

  it('cannot go around the proxy: direct connections to the host fail', async () => {
    // The server listens on the host's 127.0.0.1; from inside, 127.0.0.1 is the sandbox's own loopback,
    // and the gateway passes only the proxy's ports.
    for (const host of ['127.0.0.1', '10.200.0.1']) {
      const r = await api.exec({ id, cmd: ['curl', '-sS', '--noproxy', '*', '--max-time', '3', `http://${host}:${upstream.port}/direct`] })
      expect(r.exitCode).not.toBe(0)
    }
    expect(upstream.seen.some((s) => s.url === '/direct')).toBe(false)
  })

  it('records each attempt as an egress event', async () => {
    // Events are written in short batches: wait a bounded while for both.
    let verdicts = new Set<string>()
    for (let i = 0; i < 50 && !(verdicts.has('allowed') && verdicts.has('denied')); i++) {
      verdicts = new Set((await api.listNetworkEvents({ sandboxId: id })).items.map((e) => e.verdict))
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(verdicts.has('allowed')).toBe(true)
    expect(verdicts.has('denied')).toBe(true)
  })

  it('leaves no link behind when the sandbox is destroyed', async () => {
    await api.deleteSandbox({ id })
    const links = execFileSync('ip', ['-o', 'link', 'show'], { env: childEnv(), encoding: 'utf8' })
    expect(leftovers(cgroupName, [id])).toEqual([])
    // Host ends are named tp<address in hex>; none may remain for this runtime's sandboxes.
    expect(links.split('\n').filter((l) => /: tp[0-9a-f]{8}[@:]/.test(l))).toEqual([])
  })
})
