/** Escape attempts from inside LocalRuntime sandboxes, as the default user and as root. */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { hostname, networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { instanceIdOf } from '../../src/runtime/local/instance.js'
import { LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import type { RuntimeRef } from '../../src/runtime/runtime.js'
import { collect, run } from '../../src/runtime/runtime.suite.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root (namespaces, overlay mounts, cgroups); run the tests as root' : undefined
if (skip) console.warn(`security tests skipped: ${skip}`)

const cgroupName = `tidepool-sec-${process.pid}`
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-sec-'))
const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' }
const users = ['user', 'root'] as const
/** finit_module: the syscall behind insmod (no insmod binary is needed to try it). */
const finitModule = process.arch === 'arm64' ? 273 : 313

/** Host pids whose cgroup path names this sandbox (its init, its supervisor, exec handlers and every command). */
function hostPids(id: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(`/${cgroupName}/${instanceIdOf(dataDir)}/${id}`)) pids.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return pids
}

describe.skipIf(Boolean(skip))('sandbox security (local runtime)', () => {
  const rt = new LocalRuntime({ dataDir, cgroupName })
  const refs: RuntimeRef[] = []
  let a: RuntimeRef
  let b: RuntimeRef
  let seq = 0
  const secrets: string[] = []
  let server: Server
  let port = 0
  let connections = 0

  const start = async (resources = { cpu: 1, memoryMb: 128, pids: 128 }) => {
    const ref = await rt.start({ id: `sbx_sec${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources, denyRead: [] })
    refs.push(ref)
    return ref
  }
  const sh = (ref: RuntimeRef, script: string, user: 'user' | 'root' = 'root', timeoutMs = 30_000) => run(rt, ref, ['sh', '-c', script], { user, env, timeoutMs })

  beforeAll(async () => {
    a = await start()
    b = await start()
    for (const dir of ['/root', '/home', dataDir]) {
      const d = mkdtempSync(join(dir, 'tidepool-secret-'))
      writeFileSync(join(d, 'secret.txt'), 'TOP-SECRET\n')
      secrets.push(join(d, 'secret.txt'))
    }
    server = createServer((s) => {
      connections++
      s.destroy()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as { port: number }).port
  })

  afterAll(async () => {
    for (const r of refs) await rt.destroy(r.id, r)
    await rt.removeCgroupParents()
    for (const s of secrets) rmSync(join(s, '..'), { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
    await new Promise((r) => server?.close(r))
  })

  it.each(users)('sees only its own processes (%s)', async (user) => {
    const r = await sh(a, 'for p in /proc/[0-9]*; do cat $p/comm; done', user)
    const names = r.stdout.trim().split('\n')
    expect(names).toContain('tidepool-init')
    expect(names.length).toBeLessThan(8)
    expect(names.some((n) => /node|vitest|process_api|systemd/.test(n))).toBe(false)
  })

  it.each(users)('cannot read or even see host files under /root, /home or the data dir (%s)', async (user) => {
    for (const s of secrets) {
      const r = await sh(a, `test -e '${s}' && echo EXISTS; cat '${s}' 2>&1; ls -la '${join(s, '..')}' 2>&1`, user)
      expect(r.stdout).not.toContain('EXISTS')
      expect(r.stdout).not.toContain('TOP-SECRET')
    }
    const etc = await sh(a, 'ls /etc/shadow /etc/gshadow /etc/sudoers /etc/ssh /etc/ssl/private 2>&1; ls -A /home /root 2>&1', user)
    expect(etc.stdout).not.toMatch(/^\/etc\/(shadow|gshadow|sudoers)$/m)
    expect(etc.stdout).not.toContain('tidepool-secret')
  })

  it('writes stay inside the sandbox', async () => {
    const hostFile = join(tmpdir(), `tidepool-sec-host-${process.pid}.txt`)
    writeFileSync(hostFile, 'original\n')
    const passwd = readFileSync('/etc/passwd', 'utf8')
    try {
      const r = await sh(a, `echo hacked > '${hostFile}'; echo 'evil:x:0:0::/:/bin/sh' >> /etc/passwd; cat '${hostFile}'; touch /usr/bin/tidepool-evil 2>&1; echo rc=$?`)
      expect(r.stdout).toContain('hacked')
      expect(r.stdout).toMatch(/rc=1/)
      expect(readFileSync(hostFile, 'utf8')).toBe('original\n')
      expect(readFileSync('/etc/passwd', 'utf8')).toBe(passwd)
      expect(existsSync('/usr/bin/tidepool-evil')).toBe(false)
      // …and inside another sandbox.
      expect((await sh(b, `cat '${hostFile}' 2>&1; grep -c evil /etc/passwd`)).stdout).not.toContain('hacked')
    } finally {
      rmSync(hostFile, { force: true })
    }
  })

  it.each(users)('cannot reach a server on the host, by loopback or by the host address (%s)', async (user) => {
    const addrs = [
      '127.0.0.1',
      ...Object.values(networkInterfaces())
        .flat()
        .filter((i) => i && i.family === 'IPv4' && !i.internal)
        .map((i) => i!.address),
    ]
    for (const addr of addrs) {
      const r = run(rt, a, ['bash', '-c', `echo hi > /dev/tcp/${addr}/${port} && echo CONNECTED`], { user, env, timeoutMs: 5000 })
      expect((await r).stdout).not.toContain('CONNECTED')
    }
    const py = await sh(a, `python3 -c 'import socket; socket.create_connection(("127.0.0.1", ${port}), timeout=2); print("CONNECTED")' 2>&1`, user)
    expect(py.stdout).not.toContain('CONNECTED')
    expect(connections).toBe(0)
    const ifaces = await sh(a, 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "', user)
    expect(ifaces.stdout.trim()).toBe('lo')
  })

  it.each(users)('cannot load kernel modules, set the clock or hostname, mount, unshare or open vsock (%s)', async (user) => {
    const before = hostname()
    const hostBefore = Date.now()
    const r = await sh(
      a,
      [
        `python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(${finitModule}, 0, b"", 0); print("finit_module", r, ctypes.get_errno())'`,
        'hostname evil 2>/dev/null && echo HOSTNAME-CHANGED',
        'date -s "2001-01-01" >/dev/null 2>&1 && echo CLOCK-CHANGED',
        'echo evil > /proc/sys/kernel/hostname 2>/dev/null && echo PROC-HOSTNAME-WRITTEN',
        'mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED',
        'unshare -U true 2>/dev/null && echo UNSHARED',
        'unshare -r -m true 2>/dev/null && echo UNSHARED-MNT',
        'mknod /tmp/mem c 1 1 2>/dev/null && echo MKNOD',
        `python3 -c 'import socket; socket.socket(40, socket.SOCK_STREAM); print("VSOCK")' 2>/dev/null`,
        'cat /proc/kcore /proc/keys 2>/dev/null | head -c 1 | wc -c',
        'hostname',
        'echo "clock $(date +%s%3N)"',
      ].join('; '),
      user,
    )
    const hostAfter = Date.now()
    expect(r.stdout).toMatch(/finit_module -1 1\n/) // EPERM
    for (const bad of ['HOSTNAME-CHANGED', 'CLOCK-CHANGED', 'PROC-HOSTNAME-WRITTEN', 'MOUNTED', 'UNSHARED', 'MKNOD', 'VSOCK']) expect(r.stdout).not.toContain(bad)
    expect(r.stdout).toContain(`0\n${a.id}\n`)
    expect(hostname()).toBe(before)
    // The clock is the host's (one clock for all): had `date -s` worked, the sandbox would read 2001, not
    // the host's time at the moment it ran (between the start of this test and the end of the command).
    const inside = Number(/^clock (\d+)$/m.exec(r.stdout)?.[1])
    expect(inside).toBeGreaterThanOrEqual(hostBefore - 1000) // clock granularity, not a duration bound
    expect(inside).toBeLessThanOrEqual(hostAfter + 1000)
    expect(new Date(hostAfter).getUTCFullYear()).toBeGreaterThan(2001)
  })

  it("learns no host path from its mount table, and neither the host's boot command line nor its load", async () => {
    const r = await run(rt, a, ['sh', '-c', 'cat /proc/self/mountinfo; echo ---; wc -c < /proc/cmdline; cat /proc/loadavg'], { user: 'root', env })
    expect(r.stdout).not.toContain(dataDir)
    expect(r.stdout).not.toMatch(/(lower|upper|work)dir=\/(?!proc\/self\/fd\/)/)
    expect(r.stdout.split('---\n')[1]).toBe('0\n0.00 0.00 0.00 1/1 1\n')
  })

  it('root inside is an unprivileged uid outside, and cannot kill its init', async () => {
    const h = rt.exec(a, { cmd: ['sleep', '1000'], env, user: 'root', timeoutMs: 60_000 })
    const done = collect(h)
    await new Promise((r) => setTimeout(r, 150))
    const sleeper = hostPids(a.id).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep')
    expect(sleeper).toBeDefined()
    expect(readFileSync(`/proc/${sleeper}/status`, 'utf8')).toMatch(/^Uid:\s+100000\s+100000\s+100000\s+100000$/m)
    const status = readFileSync(`/proc/${sleeper}/status`, 'utf8')
    const field = (name: string) => new RegExp(`^${name}:\\s+(.+)$`, 'm').exec(status)?.[1]
    // Root inside holds every capability, but of its own user namespace only: not the host's, and that
    // namespace maps its uid 0 to the unprivileged 100000. No new privileges, a seccomp filter (mode 2).
    const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'))
    const allCaps = ((1n << BigInt(lastCap + 1)) - 1n).toString(16).padStart(16, '0')
    expect(field('CapEff')).toBe(allCaps)
    expect(field('CapAmb')).toBe('0000000000000000')
    expect(readlinkSync(`/proc/${sleeper}/ns/user`)).not.toBe(readlinkSync('/proc/self/ns/user'))
    expect(readFileSync(`/proc/${sleeper}/uid_map`, 'utf8').trim().split(/\s+/).slice(0, 2)).toEqual(['0', '100000'])
    expect(field('NoNewPrivs')).toBe('1')
    expect(field('Seccomp')).toBe('2')
    await h.kill()
    await done
    await sh(a, 'kill -9 1; kill -TERM 1; true')
    expect(await rt.inspect(a)).toBe('running')
    expect((await sh(a, 'echo still-here')).stdout).toBe('still-here\n')
  })

  it("cannot see another sandbox's files or processes", async () => {
    const h = rt.exec(a, { cmd: ['sh', '-c', 'echo a-private > /tmp/a-secret; exec sleep 1000'], env, user: 'user', timeoutMs: 60_000 })
    const done = collect(h)
    await new Promise((r) => setTimeout(r, 150))
    const r = await sh(b, 'cat /tmp/a-secret 2>&1; for p in /proc/[0-9]*; do cat $p/comm; done')
    expect(r.stdout).not.toContain('a-private')
    expect(r.stdout.split('\n')).not.toContain('sleep')
    await h.kill()
    await done
  })

  it.each(users)("cannot reach any exec server, its own or another sandbox's (%s)", async (user) => {
    // The sockets live on the host, in the 0700 data dir, and in the host's network namespace.
    const socks = [a, b].map((r) => join(dataDir, 'sandboxes', r.id, 'exec.sock'))
    const probe = `import socket\nfor p in ${JSON.stringify(socks)}:\n    try:\n        socket.socket(socket.AF_UNIX).connect(p)\n        print('connected', p)\n    except OSError as e:\n        print(type(e).__name__)\n`
    const r = await run(rt, a, ['python3', '-c', probe], { user, env })
    expect(r.stdout.trim().split('\n')).toEqual(['FileNotFoundError', 'FileNotFoundError'])
    const listed = await sh(a, 'cat /proc/net/unix; find / -xdev -name exec.sock 2>/dev/null', user)
    expect(listed.stdout).not.toContain('exec.sock')
  })

  it('a fork bomb is bounded by the pids limit and leaves the host alone', async () => {
    const ref = await start({ cpu: 0.5, memoryMb: 128, pids: 32 })
    const h = rt.exec(ref, { cmd: ['bash', '-c', 'f() { f | f & }; f; sleep 5'], env, user: 'user', timeoutMs: 3000 })
    const done = collect(h)
    await new Promise((r) => setTimeout(r, 1000))
    const s = await rt.stats(ref)
    expect(s.pids).toBeLessThanOrEqual(32)
    expect(spawnSync('true').status).toBe(0) // the host can still fork
    const r = await done
    expect(r.exit.timedOut).toBe(true)
    // The bomb's exec handler (host side) exits right after it reported the exit: give it a moment.
    const handlerGone = Date.now() + 5000
    const comm = (p: number) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim()
      } catch {
        return 'gone'
      }
    }
    while (hostPids(ref.id).some((p) => comm(p) === 'tidepool-exec') && Date.now() < handlerGone) await new Promise((r) => setTimeout(r, 20))
    const left = hostPids(ref.id)
    const info = left.map((p) => {
      try {
        return `${p} ${readFileSync(`/proc/${p}/stat`, 'utf8').slice(0, 50)} ${readFileSync(`/proc/${p}/cgroup`, 'utf8').replace(/\n/g, ' ')}`
      } catch {
        return `${p} gone`
      }
    })
    // Only init and its supervisor (the exec server, which sits in the sandbox's resource cgroups) are left.
    expect(info.map((l) => /\((tidepool-\w+)\)/.exec(l)?.[1]).sort(), info.join('\n')).toEqual(['tidepool-init', 'tidepool-sup'])
    expect((await sh(ref, 'echo recovered')).stdout).toBe('recovered\n')
  })

  it('a memory hog is OOM-killed and reported', async () => {
    const ref = await start({ cpu: 1, memoryMb: 64, pids: 64 })
    const r = await sh(ref, 'python3 -c "x = bytearray(512 * 1024 * 1024); print(len(x))"', 'user', 60_000)
    expect(r.exit.oomKilled).toBe(true)
    expect(r.exit.exitCode).toBe(137)
    expect(r.stdout).not.toContain('536870912')
    expect((await rt.stats(ref)).oomKills).toBeGreaterThanOrEqual(1)
  })

  it('after destroy no process survives, not even a setsid daemon', async () => {
    const ref = await start()
    const h = rt.exec(ref, { cmd: ['sh', '-c', 'setsid nohup sleep 1000 >/dev/null 2>&1 & sleep 1000'], env, user: 'root', timeoutMs: 60_000 })
    const done = collect(h)
    await new Promise((r) => setTimeout(r, 200))
    const before = hostPids(ref.id)
    const sleepers = before.filter((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep')
    expect(sleepers.length).toBe(2)
    await rt.destroy(ref.id, ref)
    await done
    for (const p of [...before, ref.pid]) expect(existsSync(`/proc/${p}`)).toBe(false)
    expect(hostPids(ref.id)).toEqual([])
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(ref.id)
  })
})
