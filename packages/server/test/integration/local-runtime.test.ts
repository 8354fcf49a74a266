/** The shared runtime suite against LocalRuntime (real namespaces, cgroups and overlayfs), plus local specifics. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import { RuntimeError } from '../../src/runtime/local/runtime-error.js'
import type { RuntimeRef } from '../../src/runtime/runtime.js'
import { run, runtimeSuite } from '../../src/runtime/runtime.suite.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root (namespaces, overlay mounts, cgroups); run the tests as root' : undefined
const cgroupName = `tidepool-test-${process.pid}`
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-rt-'))
const runtimes: LocalRuntime[] = []

function newRuntime(name = cgroupName): LocalRuntime {
  const rt = new LocalRuntime({ dataDir, cgroupName: name })
  runtimes.push(rt)
  return rt
}

/** Every trace of a sandbox the host could still show. */
export async function hostTraces(id: string, ref?: RuntimeRef, name = cgroupName): Promise<string[]> {
  const traces: string[] = []
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, name, id)
    if (existsSync(dir)) traces.push(`cgroup ${dir}`)
  }
  if (existsSync(join(dataDir, 'sandboxes', id))) traces.push(`data dir of ${id}`)
  if (ref && existsSync(`/proc/${ref.pid}`)) traces.push(`process ${ref.pid}: ${readFileSync(`/proc/${ref.pid}/stat`, 'utf8').slice(0, 60)}`)
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) if (line.includes(id)) traces.push(`mount ${line}`)
  return traces
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
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining(['privileges', 'user namespaces', 'overlayfs', 'cgroup memory', 'cgroup pids', 'cgroup freezer', 'seccomp', 'helper']))
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
    await expect(rt.start({ id, template: { name: 'broken', rootfs: '/nonexistent-rootfs' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })).rejects.toMatchObject({ code: 'invalid_request' })
    // A template folder that is no directory makes the overlay mount itself fail inside the helper.
    const file = join(dataDir, 'not-a-dir')
    writeFileSync(file, 'x')
    await expect(rt.start({ id, template: { name: 'broken', rootfs: file }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })).rejects.toMatchObject({
      code: 'internal',
      message: expect.stringMatching(/mount overlay on \//),
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

  it('exec on a gone sandbox throws not_found', async () => {
    expect(() => rt.exec({ id: 'sbx_gone', pid: 999_999, startTime: 1 }, { cmd: ['true'], env, user: 'root', timeoutMs: 1000 })).toThrow(
      expect.objectContaining({ code: 'not_found' }),
    )
  })
})
