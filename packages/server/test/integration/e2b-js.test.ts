/**
 * The unmodified `e2b` npm SDK (pinned in the lock) against a real tidepool (LocalRuntime, HTTP on
 * loopback), configured only by E2B_API_KEY, E2B_API_URL and E2B_SANDBOX_URL as `tidepool e2b env` prints them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CommandExitError, NotFoundError, AuthenticationError, Sandbox, TimeoutError } from 'e2b'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { e2bEnv } from '../../src/cli/commands/e2b.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-e2b-${process.pid}`
const vars = ['E2B_API_KEY', 'E2B_API_URL', 'E2B_SANDBOX_URL'] as const
let home: string
let cp: ControlPlane
const saved: Record<string, string | undefined> = {}

describe.skipIf(skipReason)('e2b JS SDK against tidepool (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-e2b-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128 } },
    })
    cp = await buildControlPlane(config, { logger: process.env.E2B_IT_DEBUG ? (await import('../../src/core/log.js')).createLogger('error') : silentLogger, reaper: false })
    const { url } = await cp.listen()
    for (const [k, v] of Object.entries(e2bEnv(url, cp.adminToken!))) {
      saved[k] = process.env[k]
      process.env[k] = v
    }
  })
  afterAll(async () => {
    for (const k of vars) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('creates with metadata and envs, runs commands with streamed output, and kills', async () => {
    const sbx = await Sandbox.create({ metadata: { suite: 'e2b-js', n: '1' }, envs: { GREETING: 'hello' } })
    try {
      expect(sbx.sandboxId).toMatch(/^sbx_/)
      const out: string[] = []
      const err: string[] = []
      const r = await sbx.commands.run('echo "$GREETING from $(whoami) in $HOME"; echo oops >&2', { onStdout: (d) => void out.push(d), onStderr: (d) => void err.push(d) })
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toBe('hello from user in /home/user\n')
      expect(out.join('')).toBe(r.stdout)
      expect(err.join('')).toBe('oops\n')
      await expect(sbx.commands.run('exit 3')).rejects.toSatisfy((e) => e instanceof CommandExitError && e.exitCode === 3)
      const root = await sbx.commands.run('id -u', { user: 'root' })
      expect(root.stdout.trim()).toBe('0')

      expect(sbx.getHost(8000)).toBe(`8000-${sbx.sandboxId}.sandbox.localhost:${new URL(process.env.E2B_API_URL!).port}`)
      const info = await sbx.getInfo()
      expect(info.metadata).toEqual({ suite: 'e2b-js', n: '1' })
      expect(info.state).toBe('running')
    } finally {
      expect(await sbx.kill()).toBe(true)
    }
    await expect(Sandbox.getInfo(sbx.sandboxId)).rejects.toBeInstanceOf(NotFoundError)
    expect(await Sandbox.kill(sbx.sandboxId)).toBe(false)
  })

  it('runs a background command that survives its caller, lists it, connects and kills it', async () => {
    const sbx = await Sandbox.create()
    try {
      const h = await sbx.commands.run('echo started; sleep 600', { background: true })
      const listed = await sbx.commands.list()
      expect(listed.map((p) => p.pid)).toContain(h.pid)
      await h.disconnect()
      const again = await sbx.commands.connect(h.pid)
      expect(await sbx.commands.kill(h.pid)).toBe(true)
      await expect(again.wait()).rejects.toBeInstanceOf(CommandExitError)
      expect((await sbx.commands.list()).map((p) => p.pid)).not.toContain(h.pid)
      expect(await sbx.commands.kill(9999)).toBe(false)
      // stdin: written while the command runs, then closed (EOF ends `cat`).
      const cat = await sbx.commands.run('cat', { background: true, stdin: true })
      await sbx.commands.sendStdin(cat.pid, 'line one\n')
      await sbx.commands.sendStdin(cat.pid, new TextEncoder().encode('line two\n'))
      await sbx.commands.closeStdin(cat.pid)
      expect((await cat.wait()).stdout).toBe('line one\nline two\n')
      // Connect-Timeout-Ms (timeoutMs) ends the command.
      await expect(sbx.commands.run('sleep 30', { timeoutMs: 1500 })).rejects.toBeInstanceOf(TimeoutError)
    } finally {
      await sbx.kill()
    }
  })

  it('writes, reads, lists, moves and removes files', async () => {
    const sbx = await Sandbox.create()
    try {
      await sbx.files.write('/home/user/a/b.txt', 'content of b')
      expect(await sbx.files.read('/home/user/a/b.txt')).toBe('content of b')
      expect(await sbx.files.read('a/b.txt')).toBe('content of b') // relative to the user's home
      const multi = await sbx.files.write([
        { path: '/tmp/m1.txt', data: 'one' },
        { path: '/tmp/m2.txt', data: new Blob(['two']) },
      ])
      expect(multi.map((f) => f.path)).toEqual(['/tmp/m1.txt', '/tmp/m2.txt'])
      expect((await sbx.commands.run('cat /tmp/m1.txt /tmp/m2.txt')).stdout).toBe('onetwo')
      const entries = await sbx.files.list('/home/user/a')
      expect(entries.map((e) => [e.name, e.type])).toEqual([['b.txt', 'file']])
      expect(await sbx.files.exists('/home/user/a/b.txt')).toBe(true)
      expect(await sbx.files.exists('/home/user/nope')).toBe(false)
      expect(await sbx.files.makeDir('/home/user/d')).toBe(true)
      expect(await sbx.files.makeDir('/home/user/d')).toBe(false)
      const info = await sbx.files.getInfo('/home/user/a/b.txt')
      expect(info.size).toBe(12)
      await sbx.files.rename('/home/user/a/b.txt', '/home/user/d/c.txt')
      expect(await sbx.files.read('/home/user/d/c.txt')).toBe('content of b')
      await sbx.files.remove('/home/user/d')
      expect(await sbx.files.exists('/home/user/d')).toBe(false)
      await expect(sbx.files.read('/home/user/missing')).rejects.toBeInstanceOf(NotFoundError)

      // watchDir: events for what changes after it started (tidepool polls the directory).
      await sbx.files.makeDir('/home/user/w')
      const events: { name: string; type: string }[] = []
      const waiters: { type: string; resolve: () => void }[] = []
      const eventOf = (type: string) => new Promise<void>((resolve) => waiters.push({ type, resolve }))
      const created = eventOf('create')
      const removed = eventOf('remove')
      const watch = await sbx.files.watchDir('/home/user/w', (e) => {
        events.push({ name: e.name, type: e.type })
        for (const w of waiters) if (w.type === e.type) w.resolve()
      })
      await sbx.files.write('/home/user/w/new.txt', 'x')
      await created // one poll saw the file before it goes
      await sbx.files.remove('/home/user/w/new.txt')
      await removed
      await watch.stop()
      expect(events[0]).toEqual({ name: 'new.txt', type: 'create' })
      expect(events.at(-1)).toEqual({ name: 'new.txt', type: 'remove' })
    } finally {
      await sbx.kill()
    }
  })

  it('lists with a metadata filter and pages, connects, sets the timeout, and refuses a wrong key', async () => {
    const tag = `run-${process.pid}`
    const made = await Promise.all([0, 1, 2].map(() => Sandbox.create({ metadata: { tag } })))
    try {
      const pager = Sandbox.list({ query: { metadata: { tag } }, limit: 2 })
      const first = await pager.nextItems()
      expect(first).toHaveLength(2)
      expect(pager.hasNext).toBe(true)
      const second = await pager.nextItems()
      expect(second).toHaveLength(1)
      expect(pager.hasNext).toBe(false)
      expect([...first, ...second].map((s) => s.sandboxId).sort()).toEqual(made.map((s) => s.sandboxId).sort())

      const again = await Sandbox.connect(made[0]!.sandboxId)
      expect((await again.commands.run('echo via connect')).stdout).toBe('via connect\n')
      const before = (await again.getInfo()).endAt.getTime()
      await again.setTimeout(3_600_000)
      expect((await again.getInfo()).endAt.getTime()).toBeGreaterThan(before)

      // Pause, then connect resumes it (files and processes kept).
      await again.files.write('/home/user/kept.txt', 'kept')
      expect(await again.pause()).toBe(true)
      expect((await again.getInfo()).state).toBe('paused')
      expect(await again.pause()).toBe(false)
      const resumed = await Sandbox.connect(made[0]!.sandboxId)
      expect((await resumed.getInfo()).state).toBe('running')
      expect(await resumed.files.read('/home/user/kept.txt')).toBe('kept')

      await expect(Sandbox.list({ apiKey: `e2b_${'ab'.repeat(20)}` }).nextItems()).rejects.toBeInstanceOf(AuthenticationError)
    } finally {
      await Promise.all(made.map((s) => s.kill()))
    }
  })
})
