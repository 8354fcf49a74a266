/**
 * The whole stack for real: HTTP server on loopback, LocalRuntime (namespaces, cgroups, overlayfs), the SDK
 * and the built CLI — what a new user does from the README, plus faults.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiError, createClient, Sandbox } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliRunner } from './support/cli.js'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-api-${process.pid}`
let home: string
let cp: ControlPlane
let url: string
let token: string

describe.skipIf(skipReason)('API end to end (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    token = cp.adminToken!
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  const conn = () => ({ baseUrl: url, token })

  it('walks the README with the SDK: create, run, files, pause/resume, kill', async () => {
    const sbx = await Sandbox.create({ ...conn(), metadata: { suite: 'api' } })
    const r = await sbx.commands.run('uname -a && id && ls /')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/Linux/)
    expect(r.stdout).toMatch(/uid=1000\(user\)/)
    expect(r.stdout).toMatch(/workspace/)
    await sbx.files.write('/workspace/a/b.txt', 'héllo\n')
    expect(await sbx.files.read('/workspace/a/b.txt')).toBe('héllo\n')
    expect(await sbx.files.exists('/workspace/a/b.txt')).toBe(true)
    expect((await sbx.files.list('/workspace/a')).map((e) => e.name)).toEqual(['b.txt'])
    await sbx.files.rename('/workspace/a/b.txt', '/workspace/c.txt')
    expect(await sbx.files.exists('/workspace/a/b.txt')).toBe(false)
    const bytes = new Uint8Array(256).map((_, i) => i)
    await sbx.files.write('/tmp/bin', bytes)
    expect(await sbx.files.read('/tmp/bin', { format: 'bytes' })).toEqual(bytes)
    await sbx.pause()
    expect((await sbx.getInfo()).state).toBe('paused')
    await sbx.resume()
    expect(await sbx.files.read('/workspace/c.txt')).toBe('héllo\n')
    await sbx.files.remove('/workspace/c.txt')
    await sbx.files.remove('/workspace/c.txt')
    await sbx.kill()
    expect((await sbx.getInfo()).state).toBe('stopped')
    expect(leftovers(cgroupName, [sbx.sandboxId])).toEqual([])
  })

  it('refuses path traversal and keeps symlinks inside the sandbox', async () => {
    const sbx = await Sandbox.create(conn())
    await expect(sbx.files.read('../../etc/shadow')).rejects.toMatchObject({ code: 'invalid_request' })
    // A symlink to an absolute path resolves inside the sandbox's root, never the host's.
    await sbx.commands.run(`ln -s /root/host-secret /home/user/link && ln -s ${home}/admin.token /home/user/tok`)
    await expect(sbx.files.read('/home/user/link')).rejects.toMatchObject({ code: 'not_found' })
    await expect(sbx.files.read('/home/user/tok')).rejects.toMatchObject({ code: 'not_found' })
    await expect(sbx.files.write('/etc/passwd', 'x')).rejects.toMatchObject({ code: 'policy_denied' })
    await sbx.kill()
  })

  it('streams output, kills a never-ending command at its timeout, caps 1 GB of stdout with head and tail', async () => {
    const sbx = await Sandbox.create(conn())
    const chunks: string[] = []
    const streamed = await sbx.commands.run('for i in 1 2 3; do echo line$i; sleep 0.05; done; echo err >&2', { onStdout: (d) => void chunks.push(d) })
    expect(chunks.join('')).toBe('line1\nline2\nline3\n')
    expect(streamed.stderr).toBe('err\n')
    const forever = await sbx.commands.run('sleep 1000 & sleep 1000', { timeoutMs: 500 })
    expect(forever).toMatchObject({ timedOut: true, exitCode: 137 })
    expect((await sbx.commands.run('ps -eo args')).stdout).not.toMatch(/sleep 1000/)
    const big = await sbx.commands.run('head -c 1073741824 /dev/zero | tr "\\0" a; echo END', { timeoutMs: 120_000 })
    expect(big.exitCode).toBe(0)
    expect(big.truncated).toBe(true)
    expect(big.stdoutBytes).toBe(1073741824 + 4)
    expect(big.stdout.endsWith('aaaEND\n')).toBe(true)
    expect(big.stdout).toMatch(/\[tidepool: \d+ bytes truncated\]/)
    await sbx.kill()
  })

  it('ends the command when a streaming client disconnects', async () => {
    const sbx = await Sandbox.create(conn())
    const ac = new AbortController()
    const run = sbx.commands.run('echo started; exec sleep 300', { onStdout: () => ac.abort(), signal: ac.signal } as never)
    await expect(run).rejects.toThrow()
    let ps = ''
    for (let i = 0; i < 50; i++) {
      ps = (await sbx.commands.run('ps -eo args')).stdout
      if (!ps.includes('sleep 300')) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(ps).not.toMatch(/sleep 300/)
    await sbx.kill()
  })

  it('runs background commands that can be listed, waited on and killed', async () => {
    const sbx = await Sandbox.create(conn())
    const h = await sbx.commands.run('echo bg; sleep 0.2; echo done', { background: true })
    expect((await sbx.commands.list()).map((c) => c.pid)).toContain(h.pid)
    const r = await h.wait()
    expect(r.stdout).toBe('bg\ndone\n')
    const long = await sbx.commands.run('sleep 600', { background: true, timeoutMs: 600_000 })
    await long.kill()
    expect((await sbx.commands.list()).find((c) => c.pid === long.pid)?.state).toBe('exited')
    await sbx.kill()
  })

  it('reports OOM kills in the result and as an event, and bounds a fork bomb', async () => {
    const sbx = await Sandbox.create({ ...conn(), resources: { memoryMb: 64, pids: 64 } })
    const hog = await sbx.commands.run('python3 -c "b=[]\nwhile True: b.append(bytearray(1<<20))" 2>/dev/null || head -c 500000000 /dev/zero | tail >/dev/null', { timeoutMs: 60_000 })
    expect(hog.oomKilled).toBe(true)
    const api = createClient(conn())
    const events = await api.listSandboxEvents({ id: sbx.sandboxId })
    expect(events.items.map((e) => e.kind)).toContain('oom_killed')
    const bomb = await sbx.commands.run('bomb() { bomb | bomb & }; bomb; sleep 2; echo survived', { timeoutMs: 20_000 })
    expect(bomb.timedOut || bomb.stdout.includes('survived') || bomb.exitCode !== 0).toBe(true)
    const m = await sbx.getMetrics()
    expect(m.pidsLimit).toBe(64)
    // The sandbox still answers, and the host is fine.
    expect((await sbx.commands.run('echo ok', { timeoutMs: 20_000 })).stdout).toBe('ok\n')
    await sbx.kill()
    expect(leftovers(cgroupName, [sbx.sandboxId])).toEqual([])
  })

  it('resizes live and reports the new limits', async () => {
    const sbx = await Sandbox.create({ ...conn(), resources: { memoryMb: 128 } })
    await sbx.setResources({ memoryMb: 256, pids: 100 })
    const m = await sbx.getMetrics()
    expect(m.memoryLimitBytes).toBe(256 * 1048576)
    expect(m.pidsLimit).toBe(100)
    await sbx.kill()
  })

  it('expires: the reaper kills at the TTL and nothing is left', async () => {
    const sbx = await Sandbox.create({ ...conn(), timeoutMs: 1000 })
    await new Promise((r) => setTimeout(r, 1100))
    expect(await cp.svc.sandboxes.reapExpired()).toBeGreaterThanOrEqual(1)
    expect(await sbx.getInfo()).toMatchObject({ state: 'stopped', reason: 'timeout' })
    expect(leftovers(cgroupName, [sbx.sandboxId])).toEqual([])
  })

  it('the CLI creates, execs (exit code passes through), lists as JSON, and verifies the audit log', async () => {
    const env = { ...process.env, TIDEPOOL_URL: url, TIDEPOOL_TOKEN: token, TIDEPOOL_HOME: home }
    const cli = cliRunner(env)
    const created = await cli('sandbox', 'create', '--json', '--meta', 'via=cli')
    expect(created.status).toBe(0)
    const id = JSON.parse(created.stdout).id as string
    const ex = await cli('exec', id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7')
    expect(ex.status, ex.stderr).toBe(7)
    expect(ex.stdout).toBe('out\n')
    expect(ex.stderr).toBe('err\n')
    const ls = JSON.parse((await cli('sandbox', 'ls', '--json', '--meta', 'via=cli')).stdout)
    expect(ls.items.map((s: { id: string }) => s.id)).toEqual([id])
    const missing = await cli('sandbox', 'get', 'sbx_doesnotexist')
    expect(missing.status).toBe(66)
    expect(missing.stderr).toMatch(/not_found: sandbox sbx_doesnotexist not found/)
    expect((await cli('sandbox', 'rm', id)).status).toBe(0)
    const verify = await cli('audit', 'verify', '--json')
    expect(verify.status).toBe(0)
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true })
    // The running server owns the store: offline verification says so instead of reading under it.
    const offline = await cli('audit', 'verify', '--offline')
    expect(offline.status).toBe(75)
    expect(offline.stderr).toMatch(/conflict: the store .* is in use by another tidepool process/)
    const doctor = await cli('doctor', '--json')
    expect(doctor.status).toBe(0)
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] }
    expect(report.ok).toBe(true)
    expect(report.checks.length).toBeGreaterThan(5)
    const bad = await cli('sandbox', 'create', '--memory=-5')
    expect(bad.status).toBe(64)
    expect(bad.stderr).toMatch(/invalid_request: resources\.memoryMb/)
  })

  it('a token of another project cannot see or touch the sandbox', async () => {
    const admin = createClient(conn())
    const other = await admin.createToken({ project: 'other', scopes: ['sandboxes:read', 'sandboxes:write'] })
    const sbx = await Sandbox.create(conn())
    const foreign = createClient({ baseUrl: url, token: other.token })
    await expect(foreign.exec({ id: sbx.sandboxId, cmd: ['true'] })).rejects.toBeInstanceOf(ApiError)
    await expect(foreign.readFile({ id: sbx.sandboxId, path: '/etc/hostname' })).rejects.toMatchObject({ code: 'not_found' })
    await sbx.kill()
  })
})

describe.skipIf(skipReason)('crash safety (real server process)', () => {
  it('a kill -9 mid-create loses no acknowledged sandbox and leaves nothing half-made after restart', async () => {
    const home2 = mkdtempSync(join(tmpdir(), 'tidepool-it-crash-'))
    const cg = `tidepool-it-crash-${process.pid}`
    const port = 20000 + (process.pid % 20000)
    const env = { ...process.env, TIDEPOOL_HOME: home2, TIDEPOOL_PORT: String(port), TIDEPOOL_ROUTER_PORT: '0', TIDEPOOL_CGROUP_NAME: cg, TIDEPOOL_LOG_LEVEL: 'warn' }
    const exited = (child: ReturnType<typeof spawn>) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r)))
    const start = async () => {
      const child = spawn(process.execPath, [cliPath, 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      for (let i = 0; i < 200 && !stderr.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50))
      if (!stderr.includes('listening')) throw new Error(`server did not start: ${stderr}`)
      return child
    }
    let server = await start()
    try {
      const tokenFile = join(home2, 'admin.token')
      const admin = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: (await import('node:fs')).readFileSync(tokenFile, 'utf8').trim() })
      const acked = (await admin.createSandbox({ timeoutMs: 600_000 })).id
      // Fire creates and kill the server while they are in flight.
      const inflight = Array.from({ length: 4 }, () =>
        admin.createSandbox({ timeoutMs: 600_000 }).then(
          (s) => s.id,
          () => undefined,
        ),
      )
      await new Promise((r) => setTimeout(r, 15))
      server.kill('SIGKILL')
      const settled = (await Promise.all(inflight)).filter((x): x is string => Boolean(x))
      await exited(server)
      server = await start()
      const page = await admin.listSandboxes({})
      const live = page.items.map((s) => s.id)
      // Every acknowledged sandbox survived and still works.
      for (const id of [acked, ...settled]) {
        expect(live).toContain(id)
        expect((await admin.exec({ id, cmd: ['echo', 'alive'] })).stdout).toBe('alive\n')
      }
      // Nothing half-made: no sandbox in 'starting', and the host has cgroups only for live sandboxes.
      expect(page.items.every((s) => s.state === 'running')).toBe(true)
      const cgroups = leftovers(cg).map((l) => l.split('/').pop())
      expect(new Set(cgroups)).toEqual(new Set(live))
      for (const id of live) await admin.deleteSandbox({ id })
      expect(leftovers(cg, live)).toEqual([])
      // Stopped, the store is free for offline verification, and the chain held through the crash.
      server.kill('SIGTERM')
      await exited(server)
      const offline = spawnSync(process.execPath, [cliPath, 'audit', 'verify', '--offline', '--json'], { env, encoding: 'utf8' })
      expect(offline.status, offline.stderr).toBe(0)
      expect(JSON.parse(offline.stdout)).toMatchObject({ ok: true, records: expect.any(Number) })
    } finally {
      server.kill('SIGTERM')
      await exited(server)
      await destroyAll(join(home2, 'runtime'), cg)
      rmSync(home2, { recursive: true, force: true })
    }
  })
})
