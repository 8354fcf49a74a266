import { describe, expect, it } from 'vitest'
import { FakeRuntime } from './fake.js'
import type { Runtime, RuntimeRef } from './runtime.js'
import { type SuiteSkip, runtimeSuite } from './runtime.suite.js'

describe('FakeRuntime bindMount', () => {
  it('records binds per sandbox; unbind and destroy forget them', async () => {
    const rt = new FakeRuntime()
    const ref = await rt.start({ id: 'sbx_f', template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })
    await rt.bindMount(ref, { source: '/host/pg', target: '/run/postgresql' })
    expect(rt.mounts.get('sbx_f')?.get('/run/postgresql')).toEqual({ source: '/host/pg', target: '/run/postgresql' })
    await rt.unbindMount(ref, '/run/postgresql')
    await rt.unbindMount(ref, '/run/postgresql')
    expect(rt.mounts.get('sbx_f')?.size).toBe(0)
    await rt.bindMount(ref, { source: '/host/pg', target: '/run/postgresql' })
    await rt.destroy('sbx_f')
    expect(rt.mounts.has('sbx_f')).toBe(false)
    await expect(rt.bindMount(ref, { source: '/host/pg', target: '/run/postgresql' })).rejects.toThrow(/not running/)
  })
})

describe('FakeRuntime network', () => {
  it('gives a sandbox with network.egress distinct addresses in the range, none without, and frees them on destroy', async () => {
    const rt = new FakeRuntime()
    const spec = (id: string, egress?: boolean) => ({
      id,
      template: { name: 'base', rootfs: 'host' },
      resources: { cpu: 1, memoryMb: 64, pids: 16 },
      denyRead: [],
      ...(egress === undefined ? {} : { network: { egress } }),
    })
    const a = await rt.start(spec('sbx_a', true))
    const b = await rt.start(spec('sbx_b', true))
    const c = await rt.start(spec('sbx_c', false))
    const d = await rt.start(spec('sbx_d'))
    expect(rt.networkOf(a)).toEqual({ sandboxIp: '10.200.0.2', gatewayIp: '10.200.0.1' })
    expect(rt.networkOf(b)?.sandboxIp).toBe('10.200.0.3')
    expect(rt.networkOf(c)).toBeUndefined()
    expect(rt.networkOf(d)).toBeUndefined()
    await rt.destroy('sbx_a')
    expect(rt.networkOf(a)).toBeUndefined()
    await rt.network.setEgressPorts([3128, 1080, 3128])
    expect(rt.egressPorts).toEqual([1080, 3128])
    await expect(rt.network.setEgressPorts([0])).rejects.toThrow(/egress ports/)
  })
})

const runsNothing = 'FakeRuntime runs no command: `reply` answers each one (default: echo argv) as soon as stdin ends'
/**
 * The shared suite's tests FakeRuntime does not pass, with why: the ones that need a command to run
 * (its output, user, timeout, kill, freezing, OOM and pids limits, a bind seen from inside). Its
 * lifecycle, limits, stats, resize, destroy and input checks pass the suite like any runtime.
 */
const fakeSuiteSkips: readonly SuiteSkip[] = [
  'runs a command and reports stdout, stderr and the exit code',
  'passes the environment and the working directory',
  'runs as the default user or as root',
  'feeds stdin, and /dev/stdin, /dev/stdout and /dev/stderr work',
  'reports 127 for a command that does not exist',
  'streams large output intact',
  'a timeout kills the whole tree, including a backgrounded grandchild',
  'kill() ends a running command and its children',
  'ends what a command left in the background when it exits',
  'pause freezes every process, kill still works while paused, resume lets them continue',
  'reports an OOM kill when a command exceeds the memory limit',
  'enforces the pids limit',
  'bindMount shows a host directory in that sandbox only; unbindMount takes it away; both idempotent',
].map((test) => ({ test, reason: runsNothing }))

const keepsNoFiles = 'FakeRuntime keeps no files: a snapshot is a record only, and a start from it or over its layer begins empty'
const fakeSnapshotSkips: readonly SuiteSkip[] = [
  'a snapshot taken while a process writes holds complete files; a sandbox started from it sees them exactly',
  'changes after a snapshot reach neither the parent, nor the snapshot, nor a sibling, and the other way round',
  'files deleted in the parent before the snapshot stay deleted in a sandbox started from it',
  'deleting a snapshot a running sandbox started from leaves that sandbox its files',
  "a snapshot's layer works as a template layer: the last layer is topmost, the sandbox writes above them all",
].map((test) => ({ test, reason: keepsNoFiles }))

/** A "server inside" the fake: echoes each connection, and answers its end with "bye". */
async function fakeEchoServer(rt: Runtime, ref: RuntimeRef, port: number): Promise<void> {
  ;(rt as FakeRuntime).listen(ref.id, port, (conn) => {
    conn.on('data', (c: Buffer) => conn.write(c))
    conn.on('end', () => conn.end('bye'))
  })
}

runtimeSuite({ name: 'fake', create: async () => new FakeRuntime(), echoServer: fakeEchoServer, skips: [...fakeSuiteSkips, ...fakeSnapshotSkips] })
