/**
 * Per-sandbox network on the local runtime, against the real kernel: a sandbox started with
 * network.egress reaches TCP ports of the egress set on the gateway, and nothing else (host ports on
 * 127.0.0.1, 0.0.0.0 or the gateway, other sandboxes, a test host in a network namespace this test
 * makes, UDP, ICMP, IPv6); it cannot change its network; destroy and a restart leave no link, address,
 * route or rule behind. Only loopback, the sandboxes' links and the test's own namespace are used.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { type AddressInfo, createConnection, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { childEnv, hostPath } from '../../src/core/child-env.js'
import { pollUntil } from '../../src/runtime/local/backoff.js'
import { LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import { hostIfName, parseIpv4 } from '../../src/runtime/local/network/address-pool.js'
import { findNft } from '../../src/runtime/local/network/local-network.js'
import type { RuntimeRef } from '../../src/runtime/runtime.js'
import { run } from '../../src/runtime/runtime.suite.js'

const skip =
  process.getuid?.() !== 0
    ? 'sandbox networking needs root (veth pairs, nftables)'
    : !findNft()
      ? 'nft is not installed (apt-get install nftables, or scripts/install-host-deps.sh)'
      : spawnSync('ip', ['-V'], { env: childEnv({ PATH: hostPath({ sbin: true }) }) }).status !== 0
        ? 'ip (iproute2) is not installed; the test makes its test host with it'
        : undefined
if (skip) console.warn(`sandbox-network tests skipped: ${skip}`)

const RANGE = '10.213.0.0/24'
const GATEWAY = '10.213.0.1'
const tag = process.pid.toString(36)
const cgroupName = `tidepool-nettest-${process.pid}`
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-net-'))
const sbxEnv = { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' }
const toolEnv = () => childEnv({ PATH: hostPath({ sbin: true }) })

function sh(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { env: toolEnv(), encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}
const ip = (...args: string[]) => sh('ip', args)
/** The trimmed output of a host tool run without blocking this process's event loop. */
function shAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: toolEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')))
    child.once('close', () => resolve(out.trim()))
  })
}

/** A TCP server that greets every client with `hello <name>`. */
async function greeter(host: string, name: string, port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.end(`hello ${name}\n`))
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

/** What a TCP connect from inside the sandbox gets: the greeting, or the shell's error (3 s at most). */
async function tcpFrom(rt: LocalRuntime, ref: RuntimeRef, host: string, port: number): Promise<string> {
  const r = await run(rt, ref, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port} && head -n1 <&3`], { env: sbxEnv, timeoutMs: 10_000 })
  return r.exit.exitCode === 0 ? r.stdout.trim() : `failed (${r.exit.exitCode}): ${r.stderr.trim()}`
}

/** The first line a TCP server at host:port sends to this process. */
function greetingOf(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = ''
    const c = createConnection({ host, port }, () => c.setEncoding('utf8'))
    c.on('data', (d) => (got += String(d)))
    c.once('end', () => resolve(got.trim()))
    c.once('error', reject)
  })
}

/** Host links of the test's range, routes and addresses in it (what must be empty after destroy). */
function netTraces(): string[] {
  const links = readdirSync('/sys/class/net').filter((n) => /^tp0ad500[0-9a-f]{2}$/.test(n))
  const routes = ip('-4', 'route', 'show')
    .out.split('\n')
    .filter((l) => l.startsWith('10.213.0.') && !l.startsWith(GATEWAY))
  const addrs = ip('-4', '-o', 'addr', 'show')
    .out.split('\n')
    .filter((l) => l.includes('10.213.0.') && !l.includes(`${GATEWAY}/32`))
  return [...links.map((l) => `link ${l}`), ...routes.map((r) => `route ${r}`), ...addrs.map((a) => `addr ${a}`)]
}

describe.skipIf(Boolean(skip))('sandbox network (local runtime)', () => {
  const runtimes: LocalRuntime[] = []
  const newRuntime = () => {
    const rt = new LocalRuntime({ dataDir, cgroupName, network: { range: RANGE } })
    runtimes.push(rt)
    return rt
  }
  let rt: LocalRuntime
  const servers: Server[] = []
  const udp: UdpSocket[] = []
  const udpSeen: string[] = []
  let egress = 0
  let gatewayOther = 0
  let loopbackPort = 0
  let anyPort = 0
  let a: RuntimeRef
  let b: RuntimeRef
  let isolated: RuntimeRef
  let seq = 0
  const ns = `tptest${tag}`
  const nsHostIf = `nt${tag}`.slice(0, 15) // not tp*: that prefix is the sandboxes' (policed as theirs)
  let nsServer: ChildProcess | undefined
  /** The host end of a sandbox's pair (its name encodes the address). */
  const hostIfOf = (ref: RuntimeRef) => hostIfName(parseIpv4(rt.networkOf(ref)!.sandboxIp)!)
  const start = (egressOn = true) =>
    rt.start({
      id: `sbx_net${tag}x${seq++}`,
      template: { name: 'base', rootfs: 'host' },
      resources: { cpu: 1, memoryMb: 128, pids: 64 },
      denyRead: [],
      ...(egressOn ? { network: { egress: true } } : {}),
    })

  beforeAll(async () => {
    rt = newRuntime()
    await rt.network!.ensure()
    const g = await greeter(GATEWAY, 'egress')
    egress = g.port
    await rt.network!.setEgressPorts([egress])
    const other = await greeter(GATEWAY, 'gateway-other')
    gatewayOther = other.port
    const lo = await greeter('127.0.0.1', 'loopback')
    loopbackPort = lo.port
    const any = await greeter('0.0.0.0', 'any')
    anyPort = any.port
    servers.push(g.server, other.server, lo.server, any.server)
    for (const port of [53, egress]) {
      const s = createSocket('udp4')
      s.on('message', (m) => udpSeen.push(`${port}: ${m.toString()}`))
      await new Promise<void>((resolve) => s.bind(port, GATEWAY, resolve))
      udp.push(s)
    }
    // The test host: its own network namespace, a veth to the host, a TCP and UDP listener on 10.214.0.2.
    ip('netns', 'add', ns)
    ip('link', 'add', nsHostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    ip('addr', 'add', '10.214.0.1/30', 'dev', nsHostIf)
    ip('link', 'set', nsHostIf, 'up')
    ip('-n', ns, 'addr', 'add', '10.214.0.2/30', 'dev', 'eth0')
    ip('-n', ns, 'link', 'set', 'eth0', 'up')
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('-n', ns, 'route', 'add', 'default', 'via', '10.214.0.1')
    const py =
      'import socket,threading\nt=socket.socket();t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);t.bind(("0.0.0.0",8080));t.listen()\nwhile True:\n c,_=t.accept();c.sendall(b"hello testhost\\n");c.close()\n'
    nsServer = spawn('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-c', py], { env: toolEnv(), stdio: 'ignore' })
    // The test host is reachable from the host itself (so its being unreachable below means something).
    expect(await pollUntil(() => ip('netns', 'exec', ns, 'ss', '-ltn').out.includes(':8080'), { timeoutMs: 10_000, maxDelayMs: 100 })).toBe(true)
    a = await start()
    b = await start()
    isolated = await start(false)
  }, 60_000)

  afterAll(async () => {
    for (const r of [a, b, isolated]) if (r) await rt.destroy(r.id, r)
    nsServer?.kill('SIGKILL')
    ip('link', 'del', nsHostIf)
    ip('netns', 'del', ns)
    for (const s of servers) s.close()
    for (const s of udp) s.close()
    for (const r of runtimes) await r.releaseIdle()
    for (const r of runtimes) r.close()
    rmSync(dataDir, { recursive: true, force: true })
    // The last runtime out removed the table and the gateway address, and nothing of the range is left.
    expect(sh('nft', ['list', 'table', 'inet', 'tidepool']).out).toMatch(/No such file|does not exist/)
    expect(ip('-4', '-o', 'addr', 'show', 'dev', 'lo').out).not.toContain(GATEWAY)
    expect(netTraces()).toEqual([])
  })

  it('gives each sandbox its own address in the range, and none without network.egress', async () => {
    const na = rt.networkOf(a)
    const nb = rt.networkOf(b)
    expect(na).toMatchObject({ gatewayIp: GATEWAY, sandboxIp: expect.stringMatching(/^10\.213\.0\.\d+$/) })
    expect(nb?.sandboxIp).not.toBe(na?.sandboxIp)
    expect(rt.networkOf(isolated)).toBeUndefined()
    const r = await run(rt, a, ['/usr/sbin/ip', '-4', '-o', 'addr', 'show', 'eth0'], { env: sbxEnv })
    expect(r.stdout).toContain(`${na!.sandboxIp}/32`)
    const lonely = await run(rt, isolated, ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1'], { env: sbxEnv })
    expect(lonely.stdout.trim()).toBe('lo')
  })

  it('reaches the gateway on a port of the egress set, and only there', async () => {
    expect(await tcpFrom(rt, a, GATEWAY, egress)).toBe('hello egress')
    expect(await tcpFrom(rt, a, GATEWAY, gatewayOther)).toMatch(/^failed/)
    expect(await tcpFrom(rt, a, '127.0.0.1', loopbackPort)).toMatch(/^failed/) // its own loopback: nothing there
    const hostIp = ip('-4', '-o', 'addr', 'show', 'scope', 'global').out.match(/inet (\d+\.\d+\.\d+\.\d+)/)?.[1]
    if (hostIp) expect(await tcpFrom(rt, a, hostIp, anyPort)).toMatch(/^failed/)
    expect(await tcpFrom(rt, a, GATEWAY, anyPort)).toMatch(/^failed/) // a 0.0.0.0 listener, through the gateway address
    expect(await tcpFrom(rt, isolated, GATEWAY, egress)).toMatch(/^failed/) // loopback only
    // The host's own loopback is not the sandbox's: the greeter there is unreachable from inside.
    const own = await run(
      rt,
      a,
      [
        '/usr/bin/python3',
        '-c',
        `import socket\ns=socket.socket()\ns.settimeout(2)\ntry:\n s.connect(("127.0.0.1",${loopbackPort}))\n print("connected")\nexcept OSError as e:\n print("refused", e.errno)`,
      ],
      { env: sbxEnv },
    )
    expect(own.stdout).toMatch(/^refused/)
  })

  it('cannot reach another sandbox, though that one serves on its own address', async () => {
    const bIp = rt.networkOf(b)!.sandboxIp
    const serve = rt.exec(b, {
      cmd: ['/usr/bin/python3', '-c', 'import socket\nt=socket.socket();t.bind(("0.0.0.0",8081));t.listen()\nwhile True:\n c,_=t.accept();c.sendall(b"hello b\\n");c.close()\n'],
      env: sbxEnv,
      user: 'root',
      timeoutMs: 60_000,
    })
    serve.stdin.end()
    let self = ''
    for (let i = 0; i < 50 && self !== 'hello b'; i++) self = await tcpFrom(rt, b, bIp, 8081)
    expect(self).toBe('hello b')
    expect(await tcpFrom(rt, a, bIp, 8081)).toMatch(/^failed/)
    await serve.kill()
  })

  it('cannot reach a test host beyond the host, by TCP or UDP, whatever its proxy variables say', async () => {
    expect(await greetingOf('10.214.0.2', 8080)).toBe('hello testhost')
    expect(await tcpFrom(rt, a, '10.214.0.2', 8080)).toMatch(/^failed/)
    const r = await run(
      rt,
      a,
      [
        '/usr/bin/python3',
        '-c',
        'import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\ns.sendto(b"x",("10.214.0.2",8080))\ntry:\n print(s.recv(10))\nexcept OSError as e:\n print("no answer")',
      ],
      {
        env: { ...sbxEnv, HTTP_PROXY: '', ALL_PROXY: '' },
      },
    )
    expect(r.stdout.trim()).toBe('no answer')
  })

  it('sends no UDP (DNS included) and no ICMP to the gateway', async () => {
    const py = [
      'import socket',
      `for port in (53, ${egress}):`,
      ' u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
      ` u.sendto(b"from-sandbox",("${GATEWAY}",port))`,
      'i=socket.socket(socket.AF_INET,socket.SOCK_DGRAM,socket.IPPROTO_ICMP)',
      'i.settimeout(1)',
      `i.sendto(b"\\x08\\x00\\x00\\x00\\x00\\x01\\x00\\x01",("${GATEWAY}",0))`,
      'try:',
      ' i.recv(64); print("pong")',
      'except OSError:',
      ' print("no pong")',
    ].join('\n')
    const r = await run(rt, a, ['/usr/bin/python3', '-c', py], { env: sbxEnv })
    expect(r.stdout.trim()).toBe('no pong')
    // An allowed connection made after the datagrams arrives; the datagrams never do.
    expect(await tcpFrom(rt, a, GATEWAY, egress)).toBe('hello egress')
    expect(udpSeen).toEqual([])
  })

  it('has no IPv6 and no power over its network (no CAP_NET_ADMIN in its network namespace)', async () => {
    const v6 = await run(
      rt,
      a,
      ['/usr/bin/python3', '-c', 'import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_STREAM)\ntry:\n s.bind(("::1",0)); print("bound")\nexcept OSError as e:\n print("refused", e.errno)'],
      { env: sbxEnv },
    )
    expect(v6.stdout).toMatch(/^refused/)
    const flags = await run(rt, a, ['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'], { env: sbxEnv })
    expect(flags.stdout.split('\n').filter(Boolean)).toEqual(['1', '1'])
    const hostEnd = hostIfOf(a)
    expect(
      sh('cat', [`/proc/sys/net/ipv6/conf/${hostEnd}/disable_ipv6`, `/proc/sys/net/ipv4/conf/${hostEnd}/rp_filter`])
        .out.split('\n')
        .filter(Boolean),
    ).toEqual(['1', '1'])
    for (const cmd of [
      ['/usr/sbin/ip', 'addr', 'add', '10.213.0.250/32', 'dev', 'eth0'],
      ['/usr/sbin/ip', 'link', 'set', 'eth0', 'down'],
      ['/usr/sbin/ip', 'route', 'add', '10.214.0.0/30', 'dev', 'eth0'],
    ]) {
      const r = await run(rt, a, cmd, { env: sbxEnv })
      expect(r.exit.exitCode, cmd.join(' ')).not.toBe(0)
      expect(r.stderr).toMatch(/Operation not permitted/)
    }
    // Nor can it pose as another sandbox: binding B's address fails (it is not on this link).
    const pose = await run(
      rt,
      a,
      ['/usr/bin/python3', '-c', `import socket\ns=socket.socket()\ntry:\n s.bind(("${rt.networkOf(b)!.sandboxIp}",0)); print("bound")\nexcept OSError as e:\n print("refused", e.errno)`],
      { env: sbxEnv },
    )
    expect(pose.stdout).toMatch(/^refused/)
  })

  it('drops packets whose source is another sandbox address on a link (reverse-path check)', async () => {
    // A link named like a sandbox's host end, for an address no sandbox has, into the test's namespace.
    const own = 0x0ad500f0
    const link = `tp${own.toString(16).padStart(8, '0')}`
    ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'spoof0', 'netns', ns)
    try {
      ip('link', 'set', link, 'up')
      ip('route', 'add', '10.213.0.240/32', 'dev', link, 'src', GATEWAY)
      ip('-n', ns, 'link', 'set', 'spoof0', 'up')
      ip('-n', ns, 'addr', 'add', '10.213.0.240/32', 'dev', 'spoof0')
      ip('-n', ns, 'addr', 'add', `${rt.networkOf(b)!.sandboxIp}/32`, 'dev', 'spoof0')
      ip('-n', ns, 'route', 'add', `${GATEWAY}/32`, 'dev', 'spoof0')
      // Async: the greeter lives in this process, whose event loop a spawnSync would block.
      const from = (src: string) =>
        shAsync('ip', [
          'netns',
          'exec',
          ns,
          '/usr/bin/python3',
          '-c',
          `import socket\ns=socket.socket()\ns.settimeout(2)\ns.bind(("${src}",0))\ntry:\n s.connect(("${GATEWAY}",${egress})); print(s.recv(64).decode().strip())\nexcept OSError as e:\n print("failed", e)`,
        ])
      expect(await from('10.213.0.240')).toBe('hello egress') // its own address: allowed, like a sandbox
      expect(await from(rt.networkOf(b)!.sandboxIp)).toMatch(/^failed/) // B's address on the wrong link: dropped
    } finally {
      ip('link', 'del', link)
    }
  })

  it('destroy leaves no link, route or address; a restarted runtime finds addresses again and prunes strays', async () => {
    const c = await start()
    const cIp = rt.networkOf(c)!.sandboxIp
    const cIf = hostIfOf(c)
    expect(existsSync(`/sys/class/net/${cIf}`)).toBe(true)
    await rt.destroy(c.id, c)
    expect(netTraces().filter((t) => t.includes(cIf) || t.includes(`${cIp} `) || t.includes(`${cIp}/`))).toEqual([])

    // A stray host end of this range (as a crash mid-create could leave one).
    const stray = 'tp0ad500fa'
    ip('link', 'add', stray, 'type', 'veth', 'peer', 'name', 'strayp')
    const again = newRuntime() // a restart: nothing in memory
    expect(again.networkOf(a)).toEqual(rt.networkOf(a))
    const d = await again.start({ id: `sbx_net${tag}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [], network: { egress: true } })
    try {
      expect(existsSync(`/sys/class/net/${stray}`)).toBe(false)
      const dIp = again.networkOf(d)!.sandboxIp
      expect([rt.networkOf(a)!.sandboxIp, rt.networkOf(b)!.sandboxIp]).not.toContain(dIp)
      expect(await tcpFrom(again, d, GATEWAY, egress)).toBe('hello egress') // the egress set survived the restart's install
    } finally {
      await again.destroy(d.id, d)
      ip('link', 'del', stray)
    }
    expect(netTraces().filter((t) => !t.includes(hostIfOf(a)) && !t.includes(hostIfOf(b)) && !t.includes(rt.networkOf(a)!.sandboxIp) && !t.includes(rt.networkOf(b)!.sandboxIp))).toEqual([])
  })

  it('keeps one table whose egress set holds only the ports given (no per-sandbox element)', () => {
    const table = sh('nft', ['list', 'table', 'inet', 'tidepool']).out
    expect(table).toContain(`elements = { ${egress} }`)
    expect(table).not.toMatch(/10\.213\.0\.(?!0\/24|1\b)/)
  })
})
