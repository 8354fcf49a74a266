/** The shared runtime suite against LocalRuntime (real namespaces, cgroups and overlayfs), plus local specifics. */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { instanceIdOf } from '../../src/runtime/local/instance.js'
import { LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import { RuntimeError } from '../../src/runtime/local/runtime-error.js'
import type { RuntimeRef } from '../../src/runtime/runtime.js'
import { run, runtimeSuite } from '../../src/runtime/runtime.suite.js'
import { echoServer } from './support/port-servers.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root (namespaces, overlay mounts, cgroups); run the tests as root' : undefined
const cgroupName = `tidepool-test-${process.pid}`
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-rt-'))
const runtimes: LocalRuntime[] = []
/** Every runtime on dataDir shares its instance id: its cgroups sit in <name>/<instance>/. */
const instance = instanceIdOf(dataDir)

function newRuntime(name = cgroupName): LocalRuntime {
  const rt = new LocalRuntime({ dataDir, cgroupName: name })
  runtimes.push(rt)
  return rt
}

/** Every trace of a sandbox the host could still show. */
export async function hostTraces(id: string, ref?: RuntimeRef, name = cgroupName): Promise<string[]> {
  const traces: string[] = []
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, name, instance, id)
    if (existsSync(dir)) traces.push(`cgroup ${dir}`)
  }
  if (existsSync(join(dataDir, 'sandboxes', id))) traces.push(`data dir of ${id}`)
  if (ref && existsSync(`/proc/${ref.pid}`)) traces.push(`process ${ref.pid}: ${readFileSync(`/proc/${ref.pid}/stat`, 'utf8').slice(0, 60)}`)
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) if (line.includes(id)) traces.push(`mount ${line}`)
  return traces
}

/** What the host still holds of a snapshot (its subvolume in the pool). */
async function snapshotTraces(id: string): Promise<string[]> {
  const dir = join(dataDir, 'sandboxes', '.snapshots', id)
  return existsSync(dir) ? [`snapshot ${dir}`] : []
}

afterAll(async () => {
  for (const rt of runtimes) await rt.removeCgroupParents()
  rmSync(dataDir, { recursive: true, force: true })
})

runtimeSuite({
  name: 'local',
  create: async () => newRuntime(),
  ...(skip ? { skip } : {}),
  traces: (id, ref) => hostTraces(id, ref),
  snapshotTraces,
  echoServer,
})

// The path of hosts without a cgroup2 tree: commands join their cgroups after fork, the v1 freezer
// pauses, kills go pid by pid. (This host is hybrid, so the option turns its cgroup2 mount off.)
const v1Name = `${cgroupName}-v1`
runtimeSuite({
  name: 'local, cgroup v1 only',
  create: async () => {
    const rt = new LocalRuntime({ dataDir, cgroupName: v1Name, cgroup2: false })
    runtimes.push(rt)
    return rt
  },
  ...(skip ? { skip } : {}),
  traces: (id, ref) => hostTraces(id, ref, v1Name),
  snapshotTraces,
  echoServer,
  // cgroup v1 counts a refused fork in the forking task's own cgroup (its pids.events is not hierarchical): here the
  // command's exec cgroup in the pids tree, removed when the command ends.
  noPidsLimitHits: 'pids.events counts in the exec cgroup, which goes with the command',
})

describe.skipIf(Boolean(skip))('LocalRuntime specifics', () => {
  const rt = newRuntime()
  const refs: RuntimeRef[] = []
  const env = { PATH: '/usr/bin:/bin' }
  let ref: RuntimeRef
  let seq = 0
  const start = async (denyRead: string[] = []) => {
    const r = await rt.start({ id: `sbx_local${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead })
    refs.push(r)
    return r
  }
  beforeAll(async () => {
    ref = await start(['/etc/os-release', '/usr/share/doc'])
  })
  afterAll(async () => {
    for (const r of refs) await rt.destroy(r.id, r)
  })

  it('passes every preflight check on this host', async () => {
    const checks = await rt.preflight()
    expect(checks.filter((c) => !c.ok)).toEqual([])
    expect(checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['privileges', 'user namespaces', 'overlayfs', 'cgroup memory', 'cgroup pids', 'cgroup freezer', 'seccomp', 'fast exec', 'helper']),
    )
  })

  it('a missing cwd rejects wait() with invalid_request', async () => {
    const h = rt.exec(ref, { cmd: ['true'], env, user: 'user', cwd: '/no/such/dir', timeoutMs: 5000 })
    h.stdin.end()
    const err = await h.wait().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RuntimeError)
    expect(err).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/cwd \/no\/such\/dir/) })
  })

  it('a missing helper is a runtime_unavailable error at start', async () => {
    const broken = new LocalRuntime({ dataDir, cgroupName, helperPath: '/nonexistent/tidepool-helper' })
    await expect(broken.start({ id: 'sbx_nohelper', template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })).rejects.toMatchObject({
      code: 'runtime_unavailable',
      message: expect.stringMatching(/helper.*npm run build/s),
    })
    expect(await hostTraces('sbx_nohelper')).toEqual([])
  })

  it('a failing start leaves nothing behind', async () => {
    const id = `sbx_badroot${process.pid}`
    await expect(rt.start({ id, template: { name: 'broken', rootfs: '/nonexistent-rootfs' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })).rejects.toMatchObject({
      code: 'invalid_request',
    })
    // A template folder that is no directory: the helper refuses to open it as a layer (layers are passed by fd).
    const file = join(dataDir, 'not-a-dir')
    writeFileSync(file, 'x')
    await expect(rt.start({ id, template: { name: 'broken', rootfs: file }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })).rejects.toMatchObject({
      code: 'internal',
      message: expect.stringMatching(/open layer .*not-a-dir: Not a directory/),
    })
    expect(await hostTraces(id)).toEqual([])
  })

  it('masks denyRead paths and shows the sandbox id as hostname', async () => {
    const r = await run(rt, ref, ['sh', '-c', 'hostname; wc -c < /etc/os-release; ls -A /usr/share/doc | wc -l; tr -s "\\0" " " < /proc/1/cmdline'])
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual([ref.id, '0', '0', 'tidepool-init'])
  })

  it('keeps root inside unprivileged outside: host uid 100000, seccomp on, no_new_privs', async () => {
    const r = await run(rt, ref, ['sh', '-c', 'cat /proc/self/uid_map; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status'])
    expect(r.stdout).toMatch(/^\s*0\s+100000\s+65536\n/)
    expect(r.stdout).toMatch(/Seccomp:\s+2/)
    expect(r.stdout).toMatch(/NoNewPrivs:\s+1/)
  })

  it('root owns / and /etc inside, the user owns its home, /tmp is 1777, /usr is read-only', async () => {
    const r = await run(rt, ref, ['sh', '-c', 'stat -c "%n %u %a" / /etc /root /tmp /home/user /workspace; touch /usr/x 2>&1 || true'])
    expect(r.stdout).toContain('/ 0 755')
    expect(r.stdout).toContain('/etc 0 755')
    expect(r.stdout).toContain('/root 0 700')
    expect(r.stdout).toContain('/tmp 0 1777')
    expect(r.stdout).toContain('/home/user 1000 755')
    expect(r.stdout).toContain('/workspace 1000 755')
    expect(r.stdout).toMatch(/touch: cannot touch '\/usr\/x'/)
  })

  it('lists sandboxes left by a previous process (reconcile) and destroys them by id alone', async () => {
    const other = await start()
    const fresh = newRuntime()
    expect(await fresh.list()).toContain(other.id)
    await fresh.destroy(other.id)
    expect(await fresh.inspect(other)).toBe('gone')
    expect(await hostTraces(other.id, other)).toEqual([])
  })

  it("serves execs on a root-only socket in the sandbox dir; commands land in their own cgroup2 cgroup, not the supervisor's", async () => {
    const sock = join(dataDir, 'sandboxes', ref.id, 'exec.sock')
    expect(statSync(sock).isSocket()).toBe(true)
    expect(statSync(sock).mode & 0o077).toBe(0) // its owner (root) only
    // Another host user cannot even reach it (0700 data dir), let alone connect.
    const probe = `require('net').connect(${JSON.stringify(sock)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })`
    const nobody = spawnSync(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, encoding: 'utf8' })
    expect(nobody.stdout.trim()).toMatch(/^(EACCES|EPERM)$/)
    const r = await run(rt, ref, ['cat', '/proc/self/cgroup'])
    const unified = readFileSync('/proc/mounts', 'utf8').includes(' cgroup2 ')
    // Inside, the cgroup namespace root is the sandbox; the command sits in an exec child of it.
    if (unified) expect(r.stdout).toMatch(/^0::\/x\d+$/m)
  })

  it('runs 40 commands at once, each with its own output, and gives every pid back when they end', async () => {
    // Each command costs a handler and three processes of its own: 160 pids at the peak.
    const big = await rt.start({ id: `sbx_local${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 256, pids: 512 }, denyRead: [] })
    refs.push(big)
    const base = (await rt.stats(big)).pids // init and its supervisor (the exec server)
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => run(rt, big, ['sh', '-c', `head -c ${1000 + i} /dev/zero | wc -c; echo e${i} >&2`], { user: 'user' })))
    expect(rs.map((r) => `${r.exit.exitCode} ${r.stdout.trim()} ${r.stderr.trim()}`)).toEqual(rs.map((_, i) => `0 ${1000 + i} e${i}`))
    // Their handlers are reaped as they exit: none is left holding a pid of the sandbox (no exec needed to notice).
    const deadline = Date.now() + 5000
    while ((await rt.stats(big)).pids > base && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect((await rt.stats(big)).pids).toBe(base)
  })

  it('a sandbox at its pids limit refuses a new command with conflict, and takes one again once processes end', async () => {
    const full = await rt.start({ id: `sbx_local${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 24 }, denyRead: [] })
    refs.push(full)
    // Forks until the kernel refuses, then holds every pid (a shell would give up at the first refusal).
    const fill =
      'import os, sys, time\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(1000)\n        os._exit(0)\nprint("full", flush=True)\ntime.sleep(1000)\n'
    const filler = rt.exec(full, { cmd: ['python3', '-c', fill], env, user: 'user', timeoutMs: 60_000 })
    filler.stdin.end()
    filler.stderr.resume()
    await new Promise<void>((resolve) => filler.stdout.on('data', (c: Buffer) => c.toString().includes('full') && resolve()))
    expect((await rt.stats(full)).pids).toBe(24)
    await expect(run(rt, full, ['true'])).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('pids limit') })
    await filler.kill()
    expect((await filler.wait()).killed).toBe(true)
    expect((await run(rt, full, ['echo', 'again'])).stdout).toBe('again\n')
  })

  it('with cgroup2: false the cgroup2 tree is left alone: a command sits in a v1 pids exec cgroup', async () => {
    const v1 = new LocalRuntime({ dataDir, cgroupName: v1Name, cgroup2: false })
    runtimes.push(v1)
    expect((await v1.preflight()).find((c) => c.name === 'fast exec')).toMatchObject({ ok: true, detail: expect.stringContaining('migrates') })
    const r = await v1.start({ id: `sbx_local${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [] })
    try {
      const own = await run(v1, r, ['cat', '/proc/self/cgroup'])
      expect(own.stdout).toMatch(/:pids:\/x\d+$/m)
      expect(own.stdout).toMatch(/^0::\/$/m)
      // No directory of it in a cgroup2 hierarchy (only those have cgroup.freeze).
      expect(readdirSync('/sys/fs/cgroup').filter((h) => existsSync(join('/sys/fs/cgroup', h, v1Name, instance, r.id, 'cgroup.freeze')))).toEqual([])
    } finally {
      await v1.destroy(r.id, r)
    }
    expect(await hostTraces(r.id, r, v1Name)).toEqual([])
  })

  it('exec on a gone sandbox throws not_found', async () => {
    expect(() => rt.exec({ id: 'sbx_gone', pid: 999_999, startTime: 1 }, { cmd: ['true'], env, user: 'root', timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'not_found' }))
  })
})

describe.skipIf(Boolean(skip))("LocalRuntime bindMount (a clone's socket dir in one sandbox)", () => {
  const rt = newRuntime()
  const refs: RuntimeRef[] = []
  const env = { PATH: '/usr/bin:/bin' }
  /** umount2, to see the errno without util-linux in between. */
  const umount2 = process.arch === 'arm64' ? 39 : 166
  // Made in beforeAll, so a filtered run that skips this block leaves no directory behind.
  let hostDir = ''
  let sockDir = ''
  let socket = ''
  let server: Server
  let a: RuntimeRef
  let b: RuntimeRef
  let seq = 0
  const start = async (denyRead: string[] = []) => {
    const r = await rt.start({ id: `sbx_bind${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead })
    refs.push(r)
    return r
  }
  /** Connects to the socket as a client would (perl-base is on every Debian) and prints the reply. */
  const ping = (path = '/run/postgresql/.s.PGSQL.5432') => [
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    '$s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\\n"; print $s "ping\\n"; print scalar <$s>',
    path,
  ]
  const hostMounts = () =>
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.includes(hostDir) || l.includes('/run/postgresql'))

  beforeAll(async () => {
    hostDir = mkdtempSync(join(tmpdir(), 'tidepool-bind-'))
    sockDir = join(hostDir, 'pg')
    socket = join(sockDir, '.s.PGSQL.5432')
    chmodSync(hostDir, 0o755)
    mkdirSync(sockDir, { mode: 0o755 })
    writeFileSync(join(sockDir, 'info.txt'), 'clone 42\n', { mode: 0o644 })
    server = createServer((c) => c.once('data', () => c.end('pong\n')))
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve))
    chmodSync(socket, 0o777)
    ;[a, b] = await Promise.all([start(), start(['/workspace'])])
  })
  afterAll(async () => {
    for (const r of refs) await rt.destroy(r.id, r)
    await new Promise<void>((r) => server.close(() => r()))
    rmSync(hostDir, { recursive: true, force: true })
  })

  it('only the bound sandbox reaches the socket and the files, as its user; the host sees no new mount', async () => {
    const before = hostMounts()
    await rt.bindMount(a, { source: sockDir, target: '/run/postgresql' })
    const r = await run(rt, a, ['sh', '-c', 'cat /run/postgresql/info.txt && "$@"', 'sh', ...ping()], { user: 'user', env })
    expect(r).toMatchObject({ stdout: 'clone 42\npong\n', stderr: '' })
    expect((await run(rt, a, ['grep', ' /run/postgresql ', '/proc/self/mounts'], { env })).stdout).toMatch(/ \/run\/postgresql \S+ rw,nosuid,nodev/)
    const other = await run(rt, b, ['sh', '-c', 'ls -A /run/postgresql 2>/dev/null | wc -l; "$@" 2>&1', 'sh', ...ping()], { user: 'root', env })
    expect(other.stdout).toMatch(/^0\nconnect: No such file or directory/)
    expect(hostMounts()).toEqual(before)
    expect(before).toEqual([])
  })

  it('neither the sandbox user nor its root can unmount it, move it or write past its permissions', async () => {
    await rt.bindMount(a, { source: sockDir, target: '/run/postgresql' })
    for (const user of ['user', 'root'] as const) {
      const r = await run(rt, a, ['perl', '-e', `my $p = $ARGV[0]; print syscall(${umount2}, $p, 2) == 0 ? "unmounted\\n" : "$!\\n"`, '/run/postgresql'], { user, env })
      expect(r.stdout).toBe('Operation not permitted\n')
      const u = await run(rt, a, ['sh', '-c', 'umount -l /run/postgresql; mv /run/postgresql /run/pg2; touch /run/postgresql/x'], { user, env })
      expect(u.exit.exitCode).not.toBe(0)
    }
    expect((await run(rt, a, ['sh', '-c', 'cat /run/postgresql/info.txt; "$@"', 'sh', ...ping()], { user: 'user', env })).stdout).toBe('clone 42\npong\n')
    expect(existsSync(join(sockDir, 'x'))).toBe(false)
  })

  it("unbindMount takes it away (target stays as an empty dir of the sandbox's root); both calls are idempotent", async () => {
    await rt.bindMount(a, { source: sockDir, target: '/run/postgresql' })
    await rt.unbindMount(a, '/run/postgresql')
    await rt.unbindMount(a, '/run/postgresql/') // the same target, normalised
    const r = await run(rt, a, ['sh', '-c', 'stat -c "%u %a" /run/postgresql; ls -A /run/postgresql | wc -l; grep -c " /run/postgresql " /proc/self/mounts'], { user: 'user', env })
    expect(r.stdout).toBe('0 755\n0\n0\n')
    await rt.bindMount(a, { source: sockDir, target: '/run/postgresql' }) // and again after an unbind
    expect((await run(rt, a, ping(), { user: 'user', env })).stdout).toBe('pong\n')
    await rt.unbindMount(a, '/run/postgresql')
  })

  it('creates missing parents; read-only binds still connect; another source at the same target replaces the first', async () => {
    const second = join(hostDir, 'second')
    mkdirSync(second, { mode: 0o755 })
    writeFileSync(join(second, 'info.txt'), 'second\n', { mode: 0o644 })
    await rt.bindMount(a, { source: sockDir, target: '/mnt/deep/er/pg', readOnly: true })
    const r = await run(rt, a, ['sh', '-c', 'stat -c "%u %a" /mnt/deep /mnt/deep/er; touch /mnt/deep/er/pg/y 2>&1; "$@"', 'sh', ...ping('/mnt/deep/er/pg/.s.PGSQL.5432')], { user: 'root', env })
    expect(r.stdout).toMatch(/^0 755\n0 755\ntouch: cannot touch '\/mnt\/deep\/er\/pg\/y': Read-only file system\npong\n$/)
    await rt.bindMount(a, { source: sockDir, target: '/mnt/deep/er/pg' }) // now writable: the flag is changed, not stacked
    await rt.bindMount(a, { source: second, target: '/mnt/deep/er/pg' })
    const mounts = await run(rt, a, ['sh', '-c', 'cat /mnt/deep/er/pg/info.txt; grep " /mnt/deep/er/pg " /proc/self/mounts | wc -l'], { env })
    expect(mounts.stdout).toBe('second\n1\n')
    await rt.unbindMount(a, '/mnt/deep/er/pg')
    expect((await run(rt, a, ['sh', '-c', 'ls -A /mnt/deep/er/pg | wc -l'], { env })).stdout).toBe('0\n')
  })

  it('refuses system targets and bad sources with invalid_request, and never unmounts what it did not mount', async () => {
    for (const target of ['/', '/usr', '/etc/postgresql', '/proc/x', '/dev/pg', '/bin', 'run/postgresql', '/run/../etc', '/run', '/tmp', '/home']) {
      await expect(rt.bindMount(a, { source: sockDir, target })).rejects.toMatchObject({ code: 'invalid_request' })
    }
    await expect(rt.bindMount(a, { source: 'relative', target: '/run/x' })).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(rt.bindMount(a, { source: join(hostDir, 'missing'), target: '/run/x' })).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/source .*missing.*No such file/),
    })
    await expect(rt.bindMount(a, { source: join(sockDir, 'info.txt'), target: '/run/x' })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/not a directory/) })
    await expect(rt.bindMount(a, { source: sockDir, target: '/run/postgresql/info' })).resolves.toBeUndefined()
    await rt.unbindMount(a, '/run/postgresql/info')
    // b masks /workspace (denyRead): an unbind there must leave the mask alone.
    await rt.unbindMount(b, '/workspace')
    expect((await run(rt, b, ['sh', '-c', 'grep -c " /workspace tmpfs ro," /proc/self/mounts'], { env })).stdout).toBe('1\n')
  })

  it('a gone sandbox: bindMount is not_found, unbindMount is fine; destroy after a bind leaves nothing', async () => {
    const c = await start()
    await rt.bindMount(c, { source: sockDir, target: '/run/postgresql' })
    await rt.destroy(c.id, c)
    expect(await hostTraces(c.id, c)).toEqual([])
    expect(hostMounts()).toEqual([])
    await expect(rt.bindMount(c, { source: sockDir, target: '/run/postgresql' })).rejects.toMatchObject({ code: 'not_found' })
    await rt.unbindMount(c, '/run/postgresql')
    expect((await run(rt, a, ping(), { user: 'user', env })).exit.exitCode).not.toBe(0) // unbound earlier
  })

  it('is private: host mounts below a shared source do not reach the sandbox, nor the other way', async () => {
    // systemd hosts mount / shared; the bind must not join the host's peer group.
    const shared = join(hostDir, 'shared')
    mkdirSync(shared, { mode: 0o755 })
    const sh = (cmd: string) => {
      const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`)
    }
    try {
      sh(`mount -t tmpfs -o size=64k,mode=755 tp-bind-test ${shared} && mount --make-shared ${shared} && mkdir -m 755 ${shared}/sub`)
      await rt.bindMount(a, { source: shared, target: '/mnt/shared' })
      sh(`mount -t tmpfs -o size=64k tp-bind-late ${shared}/sub && echo late > ${shared}/sub/f`)
      const r = await run(rt, a, ['sh', '-c', 'grep " /mnt/shared" /proc/self/mountinfo; ls -A /mnt/shared/sub | wc -l'], { env })
      expect(r.stdout).not.toMatch(/shared:/)
      expect(r.stdout.trim().split('\n')).toHaveLength(2) // one mount, and sub is empty there
      expect(r.stdout).toMatch(/\n0\n$/)
      await rt.unbindMount(a, '/mnt/shared')
    } finally {
      spawnSync('sh', ['-c', `umount ${shared}/sub; umount ${shared}`])
    }
    expect(hostMounts()).toEqual([])
  })

  it('is fast: bind and unbind each take a few ms', async () => {
    const mountsBefore = (await run(rt, a, ['cat', '/proc/self/mounts'], { env })).stdout
    const times = { bind: [] as number[], unbind: [] as number[] }
    for (let i = 0; i < 20; i++) {
      let t = performance.now()
      await rt.bindMount(a, { source: sockDir, target: '/run/postgresql' })
      times.bind.push(performance.now() - t)
      t = performance.now()
      await rt.unbindMount(a, '/run/postgresql')
      times.unbind.push(performance.now() - t)
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
    console.log(
      `bindMount median ${median(times.bind).toFixed(1)} ms (max ${Math.max(...times.bind).toFixed(1)}), unbindMount median ${median(times.unbind).toFixed(1)} ms (max ${Math.max(...times.unbind).toFixed(1)})`,
    )
    expect((await run(rt, a, ['cat', '/proc/self/mounts'], { env })).stdout).toBe(mountsBefore) // nothing stacked or left
    expect(median(times.bind)).toBeLessThan(200)
    expect(median(times.unbind)).toBeLessThan(200)
  })
})
