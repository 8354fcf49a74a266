import { describe, expect, it } from 'vitest'
import { createArgv, execArgv, mountArgv, umountArgv } from './helper-args.js'

describe('createArgv', () => {
  it('renders overlays, binds, masks and cgroups in order', () => {
    const argv = createArgv({
      id: 'sbx_1',
      plan: {
        root: '/d/merged',
        overlays: [
          { target: '/', lowers: ['/t/a', '/t/b'], upper: '/d/u', work: '/d/w' },
          { target: '/usr', lowers: ['/usr'], upper: '/d/uu', work: '/d/wu' },
        ],
        binds: [{ source: '/bin', target: '/bin', readOnly: true }, { source: '/x', target: '/y', readOnly: false }],
        masks: ['/etc/secret'],
      },
      cgroupProcs: ['/cg/memory/t/sbx_1/cgroup.procs'],
      uidBase: 100000,
      idCount: 65536,
    })
    expect(argv).toEqual([
      'create', '--id', 'sbx_1', '--root', '/d/merged',
      '--overlay', '/:/t/a:/t/b:/d/u:/d/w',
      '--overlay', '/usr:/usr:/d/uu:/d/wu',
      '--bind', '/bin:/bin:ro',
      '--bind', '/x:/y',
      '--mask', '/etc/secret',
      '--cgroup-procs', '/cg/memory/t/sbx_1/cgroup.procs',
      '--uid-base', '100000', '--id-count', '65536',
    ])
  })
})

describe('execArgv', () => {
  it('puts the command after -- so its arguments are never parsed as options', () => {
    expect(execArgv({ pid: 42, cgroupProcs: ['/a', '/b'], uid: 1000, gid: 1000, cwd: '/home/user', statusFd: 3, cmd: ['sh', '-c', '--uid 0'] })).toEqual([
      'exec', '--pid', '42', '--cgroup-procs', '/a', '--cgroup-procs', '/b', '--uid', '1000', '--gid', '1000', '--cwd', '/home/user', '--status-fd', '3', '--', 'sh', '-c', '--uid 0',
    ])
  })
})

describe('mountArgv / umountArgv', () => {
  it('names the init by pid and start time; --ro only when read-only', () => {
    expect(mountArgv({ pid: 42, startTime: 777, source: '/run/tp/c-1', target: '/run/postgresql', readOnly: false })).toEqual([
      'mount', '--pid', '42', '--start-time', '777', '--source', '/run/tp/c-1', '--target', '/run/postgresql',
    ])
    expect(mountArgv({ pid: 42, startTime: 777, source: '/s', target: '/mnt/t', readOnly: true }).at(-1)).toBe('--ro')
    expect(umountArgv({ pid: 42, startTime: 777, target: '/run/postgresql' })).toEqual(['umount', '--pid', '42', '--start-time', '777', '--target', '/run/postgresql'])
  })
})
