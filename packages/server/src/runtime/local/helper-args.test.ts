import { describe, expect, it } from 'vitest'
import { createArgv, mountArgv, snapshotArgv, subvolumeDeleteArgv, umountArgv } from './helper-args.js'

describe('createArgv', () => {
  it('asks for a limited subvolume last when the sandbox has a disk limit', () => {
    const plan = { root: '/d/merged', overlays: [{ target: '/', lowers: ['/t'], upper: '/d/u', work: '/d/w' }], binds: [], masks: [] }
    const argv = createArgv({ id: 'sbx_1', plan, cgroupProcs: [], joinProcs: [], execSocket: '/d/exec.sock', uidBase: 100000, idCount: 65536, disk: { subvolume: '/p/sbx_1', bytes: 67_108_864 } })
    expect(argv.slice(-4)).toEqual(['--disk-subvol', '/p/sbx_1', '--disk-bytes', '67108864'])
  })
  it('links the sandbox to the host with --net HOSTIF:SANDBOXIP:GATEWAYIP, and not without net', () => {
    const plan = { root: '/d/merged', overlays: [{ target: '/', lowers: ['/t'], upper: '/d/u', work: '/d/w' }], binds: [], masks: [] }
    const base = { id: 'sbx_1', plan, cgroupProcs: [], joinProcs: [], execSocket: '/d/exec.sock', uidBase: 100000, idCount: 65536 }
    expect(createArgv({ ...base, net: { hostIf: 'tp0ac80002', sandboxIp: '10.200.0.2', gatewayIp: '10.200.0.1' } }).slice(-2)).toEqual(['--net', 'tp0ac80002:10.200.0.2:10.200.0.1'])
    expect(createArgv(base)).not.toContain('--net')
  })
  it('a one-shot sandbox gets --run-fd instead of --exec-socket', () => {
    const plan = { root: '/d/merged', overlays: [{ target: '/', lowers: ['/t'], upper: '/d/u', work: '/d/w' }], binds: [], masks: [] }
    const argv = createArgv({ id: 'sbx_1', plan, cgroupProcs: [], joinProcs: [], runFd: 3, uidBase: 100000, idCount: 65536 })
    expect(argv.slice(-6)).toEqual(['--run-fd', '3', '--uid-base', '100000', '--id-count', '65536'])
    expect(argv).not.toContain('--exec-socket')
  })
  it('starts the subvolume from a snapshot with --disk-from', () => {
    const plan = { root: '/d/merged', overlays: [{ target: '/', lowers: ['/t'], upper: '/d/u', work: '/d/w' }], binds: [], masks: [] }
    const argv = createArgv({
      id: 'sbx_1',
      plan,
      cgroupProcs: [],
      joinProcs: [],
      execSocket: '/d/exec.sock',
      uidBase: 100000,
      idCount: 65536,
      disk: { subvolume: '/p/sbx_1', bytes: 1, from: '/p/.snapshots/s' },
    })
    expect(argv.slice(-6)).toEqual(['--disk-subvol', '/p/sbx_1', '--disk-bytes', '1', '--disk-from', '/p/.snapshots/s'])
    expect(snapshotArgv({ source: '/p/sbx_1', dest: '/p/.snapshots/s' })).toEqual(['snapshot', '--source', '/p/sbx_1', '--dest', '/p/.snapshots/s'])
    expect(subvolumeDeleteArgv('/p/.snapshots/s')).toEqual(['subvolume-delete', '--path', '/p/.snapshots/s'])
  })
  it('renders overlays, binds, masks and cgroups in order', () => {
    const argv = createArgv({
      id: 'sbx_1',
      plan: {
        root: '/d/merged',
        overlays: [
          { target: '/', lowers: ['/t/a', '/t/b'], upper: '/d/u', work: '/d/w' },
          { target: '/usr', lowers: ['/usr'], upper: '/d/uu', work: '/d/wu' },
        ],
        binds: [
          { source: '/bin', target: '/bin', readOnly: true },
          { source: '/x', target: '/y', readOnly: false },
        ],
        masks: ['/etc/secret'],
      },
      cgroupInto: '/cg/unified/t/sbx_1',
      cgroupProcs: ['/cg/freezer/t/sbx_1/cgroup.procs'],
      joinProcs: ['/cg/memory/t/sbx_1/cgroup.procs', '/cg/pids/t/sbx_1/cgroup.procs'],
      execSocket: '/d/exec.sock',
      uidBase: 100000,
      idCount: 65536,
    })
    expect(argv).toEqual([
      'create',
      '--id',
      'sbx_1',
      '--root',
      '/d/merged',
      '--overlay',
      '/:/t/a:/t/b:/d/u:/d/w',
      '--overlay',
      '/usr:/usr:/d/uu:/d/wu',
      '--bind',
      '/bin:/bin:ro',
      '--bind',
      '/x:/y',
      '--mask',
      '/etc/secret',
      '--cgroup-into',
      '/cg/unified/t/sbx_1',
      '--cgroup-procs',
      '/cg/freezer/t/sbx_1/cgroup.procs',
      '--join-procs',
      '/cg/memory/t/sbx_1/cgroup.procs',
      '--join-procs',
      '/cg/pids/t/sbx_1/cgroup.procs',
      '--exec-socket',
      '/d/exec.sock',
      '--uid-base',
      '100000',
      '--id-count',
      '65536',
    ])
  })
})

describe('mountArgv / umountArgv', () => {
  it('names the init by pid and start time; --ro only when read-only', () => {
    expect(mountArgv({ pid: 42, startTime: 777, source: '/run/tp/c-1', target: '/run/postgresql', readOnly: false })).toEqual([
      'mount',
      '--pid',
      '42',
      '--start-time',
      '777',
      '--source',
      '/run/tp/c-1',
      '--target',
      '/run/postgresql',
    ])
    expect(mountArgv({ pid: 42, startTime: 777, source: '/s', target: '/mnt/t', readOnly: true }).at(-1)).toBe('--ro')
    expect(umountArgv({ pid: 42, startTime: 777, target: '/run/postgresql' })).toEqual(['umount', '--pid', '42', '--start-time', '777', '--target', '/run/postgresql'])
  })
})
