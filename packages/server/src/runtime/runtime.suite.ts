/** @module runtime/runtime.suite — one behaviour suite every Runtime implementation must pass. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, afterAll, beforeAll, describe, expect, it as vit } from 'vitest'
import type { ExecExit, ExecHandle, ExecRequest, ResourceLimits, Runtime, RuntimeRef, SandboxSpec } from './runtime.js'
import { snapshotSuite } from './snapshot.suite.js'

export interface RuntimeSuiteOptions {
  name: string
  create: () => Promise<Runtime>
  /** Skip the whole suite, with the reason printed (only where the machine truly lacks the part). */
  skip?: string
  /**
   * Tests this implementation does not pass, each by its exact name with the reason (hono's router
   * suites): printed, and a name that matches no test fails the suite, so a stale skip cannot linger.
   */
  skips?: readonly SuiteSkip[]
  /** Everything the implementation can still find of a sandbox on the host (empty when destroyed cleanly). */
  traces?: (id: string, ref: RuntimeRef) => Promise<string[]>
  /** Everything the implementation can still find of a snapshot on the host (empty once deleted). */
  snapshotTraces?: (id: string) => Promise<string[]>
  /**
   * Starts a server inside the sandbox on 127.0.0.1:`port` (loopback only) that echoes what each
   * connection sends and, at its end, writes "bye" and closes; resolves once it listens. Without it the
   * connectPort tests that need a server are skipped by name (list them in `skips`).
   */
  echoServer?: (rt: Runtime, ref: RuntimeRef, port: number) => Promise<void>
  /** Called after every sandbox of the suite is destroyed (e.g. to remove parent cgroups). */
  cleanup?: (rt: Runtime) => Promise<void>
  /** Why the sandbox's stats cannot count forks refused at the pids limit (pidsLimitHits), where they cannot. */
  noPidsLimitHits?: string
}

export interface SuiteSkip {
  test: string
  reason: string
}

export interface RunResult {
  exit: ExecExit
  stdout: string
  stderr: string
}

const base: ResourceLimits = { cpu: 1, memoryMb: 128, pids: 128 }
const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' }

/** Runs a command to completion and collects its output. */
export async function run(rt: Runtime, ref: RuntimeRef, cmd: string[], o: Partial<ExecRequest> & { stdin?: string } = {}): Promise<RunResult> {
  const h = rt.exec(ref, { cmd, env: o.env ?? env, user: o.user ?? 'root', timeoutMs: o.timeoutMs ?? 30_000, ...(o.cwd ? { cwd: o.cwd } : {}) })
  return collect(h, o.stdin)
}

export async function collect(h: ExecHandle, stdin?: string): Promise<RunResult> {
  let stdout = ''
  let stderr = ''
  h.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
  h.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
  h.stdin.on('error', () => {})
  h.stdin.end(stdin)
  const ended = (s: NodeJS.ReadableStream) => new Promise<void>((r) => (s.once('end', r), s.once('close', r)))
  const [exit] = await Promise.all([h.wait(), ended(h.stdout), ended(h.stderr)])
  return { exit, stdout, stderr }
}

/** Names of the processes running in the sandbox (from /proc, so no ps is needed inside). */
const procNames = ['sh', '-c', 'for p in /proc/[0-9]*; do [ -r $p/comm ] && cat $p/comm; done']

export function runtimeSuite(opts: RuntimeSuiteOptions): void {
  if (opts.skip) console.warn(`runtime suite ${opts.name} skipped: ${opts.skip}`)
  describe.skipIf(Boolean(opts.skip))(`runtime suite: ${opts.name}`, () => {
    const skips = new Map((opts.skips ?? []).map((s) => [s.test, s.reason]))
    const names = new Set<string>()
    /** `it`, unless the implementation declared a skip for this test. */
    const it = (name: string, fn: (ctx: TestContext) => Promise<void>) => {
      names.add(name)
      const reason = skips.get(name)
      if (reason !== undefined) console.warn(`runtime suite ${opts.name}: skipped "${name}": ${reason}`)
      vit.skipIf(reason !== undefined)(name, fn)
    }
    let rt: Runtime
    let shared: RuntimeRef
    const live = new Set<string>()
    let seq = 0
    const newId = () => `sbx_suite${process.pid.toString(36)}${(seq++).toString(36)}`

    async function start(resources: Partial<ResourceLimits> = {}, over: Partial<SandboxSpec> = {}): Promise<RuntimeRef> {
      const id = newId()
      live.add(id)
      return rt.start({ id, template: { name: 'base', rootfs: 'host' }, resources: { ...base, ...resources }, denyRead: [], ...over })
    }

    beforeAll(async () => {
      rt = await opts.create()
      shared = await start()
    })

    afterAll(async () => {
      if (!rt) return
      for (const id of live) await rt.destroy(id)
      await opts.cleanup?.(rt)
    })

    it('runs a command and reports stdout, stderr and the exit code', async () => {
      const ok = await run(rt, shared, ['echo', 'hello'])
      expect(ok.stdout).toBe('hello\n')
      expect(ok.exit).toMatchObject({ exitCode: 0, timedOut: false, oomKilled: false, killed: false })
      expect(ok.exit.durationMs).toBeGreaterThan(0)
      const bad = await run(rt, shared, ['sh', '-c', 'echo oops >&2; exit 3'])
      expect(bad.stderr).toBe('oops\n')
      expect(bad.exit.exitCode).toBe(3)
    })

    it('passes the environment and the working directory', async () => {
      const r = await run(rt, shared, ['sh', '-c', 'echo "$FOO|$(pwd)"'], { env: { ...env, FOO: 'bar baz' }, cwd: '/tmp' })
      expect(r.stdout).toBe('bar baz|/tmp\n')
    })

    it('runs as the default user or as root', async () => {
      const user = await run(rt, shared, ['sh', '-c', 'id -u; id -g; pwd'], { user: 'user' })
      expect(user.stdout).toBe('1000\n1000\n/home/user\n')
      const root = await run(rt, shared, ['id', '-u'], { user: 'root' })
      expect(root.stdout).toBe('0\n')
    })

    it('feeds stdin, and /dev/stdin, /dev/stdout and /dev/stderr work', async () => {
      const r = await run(rt, shared, ['cat'], { stdin: 'line one\nline two\n' })
      expect(r.stdout).toBe('line one\nline two\n')
      const dev = await run(rt, shared, ['sh', '-c', 'cat /dev/stdin > /dev/stdout; echo e > /dev/stderr'], { stdin: 'x', user: 'user' })
      expect(dev).toMatchObject({ stdout: 'x', stderr: 'e\n' })
    })

    it('reports 127 for a command that does not exist', async () => {
      const r = await run(rt, shared, ['no-such-command-here'])
      expect(r.exit.exitCode).toBe(127)
      expect(r.stderr).toMatch(/not found/)
    })

    it('streams large output intact', async () => {
      const r = await run(rt, shared, ['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" a'])
      expect(r.stdout.length).toBe(3_000_000)
    })

    it('a timeout kills the whole tree, including a backgrounded grandchild', async () => {
      const r = await run(rt, shared, ['sh', '-c', 'sleep 1000 & sleep 1000'], { timeoutMs: 300 })
      expect(r.exit).toMatchObject({ timedOut: true, exitCode: 137 })
      const ps = await run(rt, shared, procNames)
      expect(ps.stdout.split('\n')).not.toContain('sleep')
    })

    it('kill() ends a running command and its children', async () => {
      const h = rt.exec(shared, { cmd: ['sh', '-c', 'sleep 1000 & sleep 1000'], env, user: 'user', timeoutMs: 60_000 })
      const done = collect(h)
      await new Promise((r) => setTimeout(r, 100))
      await h.kill()
      await h.kill() // idempotent
      const r = await done
      expect(r.exit).toMatchObject({ killed: true, timedOut: false, exitCode: 137 })
      const ps = await run(rt, shared, procNames)
      expect(ps.stdout.split('\n')).not.toContain('sleep')
    })

    it('ends what a command left in the background when it exits', async () => {
      const r = await run(rt, shared, ['sh', '-c', 'sleep 1000 & echo started'])
      expect(r.stdout).toBe('started\n')
      expect(r.exit.exitCode).toBe(0)
      const ps = await run(rt, shared, procNames)
      expect(ps.stdout.split('\n')).not.toContain('sleep')
    })

    it('pause freezes every process, kill still works while paused, resume lets them continue', async () => {
      const ref = await start()
      const h = rt.exec(ref, { cmd: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done'], env, user: 'user', timeoutMs: 60_000 })
      const sleeper = rt.exec(ref, { cmd: ['sleep', '1000'], env, user: 'user', timeoutMs: 60_000 })
      const ticks: number[] = []
      h.stdout.on('data', () => ticks.push(Date.now()))
      const done = collect(h)
      const sleeperDone = collect(sleeper)
      await new Promise((r) => setTimeout(r, 200))
      expect(ticks.length).toBeGreaterThan(0)
      await rt.pause(ref)
      const pausedAt = Date.now()
      expect(await rt.inspect(ref)).toBe('paused')
      await sleeper.kill()
      expect((await sleeperDone).exit).toMatchObject({ killed: true, exitCode: 137 })
      expect(await rt.inspect(ref)).toBe('paused')
      await new Promise((r) => setTimeout(r, 400))
      const duringPause = ticks.filter((t) => t > pausedAt + 50).length
      await rt.resume(ref)
      expect(await rt.inspect(ref)).toBe('running')
      const resumedAt = Date.now()
      await new Promise((r) => setTimeout(r, 200))
      expect(duringPause).toBe(0)
      expect(ticks.filter((t) => t >= resumedAt).length).toBeGreaterThan(0)
      await h.kill()
      await done
      expect((await run(rt, ref, ['echo', 'ok'])).stdout).toBe('ok\n')
    })

    it('reports stats and applies a resize live', async () => {
      const s = await rt.stats(shared)
      expect(s.memoryBytes).toBeGreaterThan(0)
      expect(s.memoryLimitBytes).toBe(base.memoryMb * 1024 * 1024)
      expect(s.pidsLimit).toBe(base.pids)
      expect(s.pids).toBeGreaterThanOrEqual(1)
      expect(s.cpuSeconds).toBeGreaterThanOrEqual(0)
      expect(s.memoryPeakBytes).toBeGreaterThanOrEqual(s.memoryBytes)
      expect(s.cpuLimit).toBeCloseTo(base.cpu, 2)
      await rt.resize(shared, { cpu: 0.5, memoryMb: 256, pids: 64 })
      const t = await rt.stats(shared)
      expect(t.memoryLimitBytes).toBe(256 * 1024 * 1024)
      expect(t.pidsLimit).toBe(64)
      // Read back from the cgroup: what the feedback loop checks a resize and its rollback by.
      expect(t.cpuLimit).toBeCloseTo(0.5, 2)
      await rt.resize(shared, base)
      expect((await rt.stats(shared)).memoryLimitBytes).toBe(base.memoryMb * 1024 * 1024)
    })

    it('reports an OOM kill when a command exceeds the memory limit', async () => {
      const ref = await start({ memoryMb: 48 })
      const r = await run(rt, ref, ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'], { timeoutMs: 60_000 })
      expect(r.exit.oomKilled).toBe(true)
      expect(r.exit.exitCode).not.toBe(0)
      expect((await rt.stats(ref)).oomKills).toBeGreaterThanOrEqual(1)
      expect((await run(rt, ref, ['echo', 'alive'])).stdout).toBe('alive\n')
    })

    it('enforces the pids limit', async () => {
      const ref = await start({ pids: 24 })
      const h = rt.exec(ref, { cmd: ['sh', '-c', 'for i in $(seq 60); do sleep 30 & done; wait'], env, user: 'user', timeoutMs: 3000 })
      const done = collect(h)
      await new Promise((r) => setTimeout(r, 500))
      const s = await rt.stats(ref)
      expect(s.pids).toBeLessThanOrEqual(24)
      const r = await done
      expect(r.stderr).toMatch(/fork|resource temporarily unavailable/i)
      // The kernel counted the refused forks (pids.events max): a run in this sandbox was pids-starved.
      if (!opts.noPidsLimitHits) expect((await rt.stats(ref)).pidsLimitHits).toBeGreaterThan(0)
    })

    it('bindMount shows a host directory in that sandbox only; unbindMount takes it away; both idempotent', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tidepool-suite-bind-'))
      try {
        chmodSync(dir, 0o755)
        writeFileSync(join(dir, 'hello.txt'), 'from the host\n', { mode: 0o644 })
        const other = await start()
        const show = 'cat /run/suite-bind/hello.txt 2>/dev/null || echo absent'
        await rt.bindMount(shared, { source: dir, target: '/run/suite-bind' })
        await rt.bindMount(shared, { source: dir, target: '/run/suite-bind' }) // the same pair again: no-op
        expect((await run(rt, shared, ['sh', '-c', show], { user: 'user' })).stdout).toBe('from the host\n')
        expect((await run(rt, shared, ['sh', '-c', 'grep -c " /run/suite-bind " /proc/self/mounts'])).stdout).toBe('1\n')
        expect((await run(rt, other, ['sh', '-c', show], { user: 'user' })).stdout).toBe('absent\n')
        await rt.unbindMount(shared, '/run/suite-bind')
        await rt.unbindMount(shared, '/run/suite-bind')
        await rt.unbindMount(other, '/run/never-bound')
        expect((await run(rt, shared, ['sh', '-c', show], { user: 'user' })).stdout).toBe('absent\n')
        await expect(rt.bindMount(shared, { source: dir, target: '/etc/x' })).rejects.toThrow(/system path/)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })

    it('lists its sandboxes; destroy is idempotent and leaves nothing behind', async () => {
      const ref = await start()
      await run(rt, ref, ['sh', '-c', 'echo data > /tmp/file'])
      expect(await rt.list()).toContain(ref.id)
      // Something still running at destroy time must go too.
      const h = rt.exec(ref, { cmd: ['sleep', '1000'], env, user: 'user', timeoutMs: 60_000 })
      const running = collect(h)
      await rt.destroy(ref.id, ref)
      live.delete(ref.id)
      expect((await running).exit.exitCode).toBe(137)
      await rt.destroy(ref.id, ref)
      await rt.destroy(ref.id)
      await rt.destroy('sbx_neverexisted')
      expect(await rt.inspect(ref)).toBe('gone')
      expect(await rt.list()).not.toContain(ref.id)
      expect(() => rt.exec(ref, { cmd: ['true'], env, user: 'root', timeoutMs: 1000 })).toThrow(/not running|not found|gone/)
      if (opts.traces) expect(await opts.traces(ref.id, ref)).toEqual([])
    })

    it('start fails cleanly on bad input and leaves nothing', async () => {
      const id = newId()
      await expect(rt.start({ id, template: { name: 'base', rootfs: 'host' }, resources: { ...base, memoryMb: -1 }, denyRead: [] })).rejects.toThrow(/memoryMb/)
      await expect(rt.start({ id: '../etc', template: { name: 'base', rootfs: 'host' }, resources: base, denyRead: [] })).rejects.toThrow(/id/)
      expect(await rt.list()).not.toContain(id)
    })

    it('connectPort relays bytes both ways to a loopback-only server, and passes a half-close on', async () => {
      const ref = await start()
      await opts.echoServer!(rt, ref, 7070)
      const conn = await rt.connectPort(ref, 7070)
      const got: Buffer[] = []
      const ended = new Promise<void>((r) => conn.once('end', r))
      conn.on('data', (c: Buffer) => got.push(c))
      conn.write('ping ')
      conn.end('pong')
      await ended
      expect(Buffer.concat(got).toString()).toBe('ping pongbye')
      conn.destroy()
      await rt.destroy(ref.id, ref)
      live.delete(ref.id)
    })

    it('connectPort ends the stream when the sandbox is destroyed mid-stream', async () => {
      const ref = await start()
      await opts.echoServer!(rt, ref, 7071)
      const conn = await rt.connectPort(ref, 7071)
      conn.on('error', () => {})
      conn.write('x')
      await new Promise<void>((r) => conn.once('data', () => r()))
      // The reading side ends (a half-open stream need not close until its writer ends too).
      const ended = new Promise<void>((r) => ['end', 'close', 'error'].forEach((e) => conn.once(e, () => r())))
      await rt.destroy(ref.id, ref)
      live.delete(ref.id)
      await ended
      conn.destroy()
      if (opts.traces) expect(await opts.traces(ref.id, ref)).toEqual([])
    })

    it('connectPort refuses a port nothing listens on (bad_gateway naming it), a bad port and a gone sandbox', async () => {
      await expect(rt.connectPort(shared, 7079)).rejects.toMatchObject({ code: 'bad_gateway', message: expect.stringMatching(/port 7079/) })
      await expect(rt.connectPort(shared, 0)).rejects.toMatchObject({ code: 'invalid_request' })
      await expect(rt.connectPort(shared, 65_536)).rejects.toMatchObject({ code: 'invalid_request' })
      const ref = await start()
      await rt.destroy(ref.id, ref)
      live.delete(ref.id)
      await expect(rt.connectPort(ref, 7079)).rejects.toMatchObject({ code: 'not_found' })
    })

    snapshotSuite({
      it,
      rt: () => rt,
      sh: (ref, script, user = 'root') => run(rt, ref, ['sh', '-c', script], { user }),
      start: (over) => start({}, over),
      destroy: async (ref) => {
        await rt.destroy(ref.id, ref)
        live.delete(ref.id)
      },
      traces: opts.traces,
      snapshotTraces: opts.snapshotTraces,
    })

    vit('declares skips only for tests of this suite', () => {
      expect([...skips.keys()].filter((t) => !names.has(t))).toEqual([])
    })
  })
}
