/**
 * LocalRuntime.runOnce for real: the command starts with its sandbox (no exec socket), under the same
 * isolation as an exec (own namespaces, unprivileged uid, no capabilities, seccomp, cgroup limits), its
 * output and exit come back, and once it is done no process of the sandbox is left; destroy removes the rest.
 */
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { instanceIdOf } from '../../src/runtime/local/instance.js'
import { LocalRuntime, defaultHelperPath } from '../../src/runtime/local/local-runtime.js'
import type { ExecRequest, SandboxSpec } from '../../src/runtime/runtime.js'
import { collect } from '../../src/runtime/runtime.suite.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-oneshot-${process.pid}`
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-it-oneshot-'))
const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/home/user' }
let seq = 0

/** Host pids whose cgroup path names this sandbox (its init, its supervisor, the handler and the command). */
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

describe.skipIf(skipReason)('LocalRuntime.runOnce (one-shot fast path)', () => {
  const rt = new LocalRuntime({ dataDir, cgroupName })
  afterAll(async () => {
    rt.close()
    await destroyAll(dataDir, cgroupName)
    rmSync(dataDir, { recursive: true, force: true })
  })
  const spec = (resources = { cpu: 1, memoryMb: 128, pids: 64 }): SandboxSpec => ({ id: `sbx_one${process.pid}x${seq++}`, template: { name: 'base', rootfs: 'host' }, resources, denyRead: [] })
  const req = (cmd: string[], o: Partial<ExecRequest> = {}): ExecRequest => ({ cmd, env, user: 'user', timeoutMs: 30_000, ...o })
  const sh = (script: string, o: Partial<ExecRequest> = {}) => req(['sh', '-c', script], o)
  const sandboxDir = (id: string) => join(dataDir, 'sandboxes', id)

  it('returns output, stdin and exit code; no exec socket; nothing runs once it is done, nothing is left after destroy', async () => {
    const s = spec()
    const { ref, handle } = await rt.runOnce(s, sh('cat; echo err >&2; exit 7'))
    expect(existsSync(join(sandboxDir(s.id), 'exec.sock'))).toBe(false)
    const r = await collect(handle, 'piped in')
    expect(r).toMatchObject({ stdout: 'piped in', stderr: 'err\n', exit: { exitCode: 7, timedOut: false, oomKilled: false } })
    // The helper ends the sandbox's processes with its command: nothing is left to kill.
    await expect.poll(() => hostPids(s.id), { timeout: 5000 }).toEqual([])
    await rt.destroy(s.id, ref)
    expect(leftovers(cgroupName, [s.id])).toEqual([])
    expect(existsSync(sandboxDir(s.id))).toBe(false)
  })

  it('isolates the command as an exec: own namespaces, unprivileged uid, no capabilities, seccomp, no host network', async () => {
    const s = spec()
    const { ref, handle } = await rt.runOnce(
      s,
      sh(
        [
          'id -u',
          'hostname',
          'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t " " "',
          'ls -d /proc/[0-9]* | wc -l',
          'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "',
          'unshare -U true 2>/dev/null && echo unshared || echo refused',
          'echo $$',
        ].join('; '),
      ),
    )
    const r = await collect(handle)
    await rt.destroy(s.id, ref)
    const lines = r.stdout.trim().split('\n')
    expect(lines.slice(0, 2)).toEqual(['1000', s.id])
    expect(lines.slice(2, 5)).toEqual(['CapEff: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2'])
    // init, sh, and the ls/wc of that line: a pid namespace of its own (the host's thousands are not there).
    expect(Number(lines[5])).toBeLessThan(6)
    expect(lines[6]).toBe('lo')
    expect(lines[7]).toBe('refused')
    expect(Number(lines[8])).toBeLessThan(10)
    expect(r.stdout).not.toContain(hostname())
    expect(leftovers(cgroupName, [s.id])).toEqual([])
  })

  it('holds the limits it was given (memory: OOM-killed and reported)', async () => {
    const s = spec({ cpu: 1, memoryMb: 32, pids: 64 })
    const { ref, handle } = await rt.runOnce(s, sh('head -c 100M /dev/zero | tail -n 1 | wc -c'))
    const r = await collect(handle)
    await rt.destroy(s.id, ref)
    expect(r.exit.oomKilled).toBe(true)
    expect(leftovers(cgroupName, [s.id])).toEqual([])
  })

  it('a timeout and a kill() end the whole tree, background children included', async () => {
    const s = spec()
    const timed = await rt.runOnce(s, sh('sleep 60 & sleep 60', { timeoutMs: 300 }))
    const r = await collect(timed.handle)
    expect(r.exit).toMatchObject({ timedOut: true, exitCode: 137 })
    await expect.poll(() => hostPids(s.id), { timeout: 5000 }).toEqual([])
    await rt.destroy(s.id, timed.ref)
    const k = spec()
    const killed = await rt.runOnce(k, sh('sleep 60 & echo started; sleep 60'))
    let out = ''
    killed.handle.stdout.on('data', (c: Buffer) => (out += c.toString()))
    killed.handle.stderr.resume()
    killed.handle.stdin.end()
    await expect.poll(() => out, { timeout: 10_000 }).toContain('started')
    await killed.handle.kill()
    expect(await killed.handle.wait()).toMatchObject({ killed: true, exitCode: 137 })
    await expect.poll(() => hostPids(k.id), { timeout: 5000 }).toEqual([])
    await rt.destroy(k.id, killed.ref)
    expect(leftovers(cgroupName, [s.id, k.id])).toEqual([])
  })

  it('a command that cannot start reports why (127, a missing cwd), and leaves nothing after destroy', async () => {
    const a = spec()
    const missing = await rt.runOnce(a, req(['no-such-command']))
    const r = await collect(missing.handle)
    expect(r.exit.exitCode).toBe(127)
    expect(r.stderr).toContain('command not found')
    await rt.destroy(a.id, missing.ref)
    const b = spec()
    const badCwd = await rt.runOnce(b, req(['true'], { cwd: '/no/such/dir' }))
    await expect(collect(badCwd.handle)).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('/no/such/dir') })
    await rt.destroy(b.id, badCwd.ref)
    expect(leftovers(cgroupName, [a.id, b.id])).toEqual([])
  })

  it('the helper takes exactly one of --exec-socket and --run-fd, and --run-fd only on a stream socket (usage error, exit 2)', () => {
    const args = ['create', '--id', 'sbx_usage', '--root', '/nonexistent/r', '--overlay', '/:/l:/u:/w', '--uid-base', '100000', '--id-count', '65536']
    const helper = (extra: string[], fd3: 'pipe' | number = 'pipe') => spawnSync(defaultHelperPath, [...args, ...extra], { stdio: ['ignore', 'ignore', 'pipe', fd3], env: {}, encoding: 'utf8' })
    expect(helper([]).status).toBe(2)
    expect(helper(['--exec-socket', '/nonexistent/s', '--run-fd', '3']).status).toBe(2)
    const file = openSync('/dev/null', 'r')
    try {
      const notSocket = helper(['--run-fd', '3'], file)
      expect(notSocket.status).toBe(2)
      expect(notSocket.stderr).toContain('--run-fd must name an open stream socket')
    } finally {
      closeSync(file)
    }
    expect(helper(['--run-fd', '1']).status).toBe(2)
  })

  it('refuses a detached command, network, and bad requests before anything starts', async () => {
    const s = spec()
    await expect(rt.runOnce(s, req(['true'], { detached: true }))).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(rt.runOnce({ ...s, network: { egress: true } }, req(['true']))).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(rt.runOnce(s, req([]))).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(rt.runOnce(s, req(['true'], { cwd: 'relative' }))).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(rt.runOnce({ ...s, template: { name: 'gone', rootfs: join(dataDir, 'no-such-rootfs') } }, req(['true']))).rejects.toMatchObject({ code: 'invalid_request' })
    expect(existsSync(sandboxDir(s.id))).toBe(false)
    expect(leftovers(cgroupName, [s.id])).toEqual([])
  })
})
