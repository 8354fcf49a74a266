import { describe, expect, it } from 'vitest'
import type { SandboxSpec } from '../runtime.js'
import { checkHotMount, checkHotMountTarget, checkSandboxPath, planMounts, sandboxPaths } from './mounts.js'

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: 'sbx_abc',
  template: { name: 'base', rootfs: 'host' },
  resources: { cpu: 1, memoryMb: 128, pids: 64 },
  denyRead: [],
  ...over,
})
const paths = sandboxPaths('/var/lib/tp/runtime', 'sbx_abc')
const mergedUsr = [
  { name: 'bin', kind: 'symlink' as const, target: 'usr/bin' },
  { name: 'lib', kind: 'symlink' as const, target: 'usr/lib' },
]

describe('sandboxPaths', () => {
  it('keeps everything of a sandbox under <dataDir>/sandboxes/<id>', () => {
    expect(paths).toEqual({
      dir: '/var/lib/tp/runtime/sandboxes/sbx_abc',
      merged: '/var/lib/tp/runtime/sandboxes/sbx_abc/merged',
      upperRoot: '/var/lib/tp/runtime/sandboxes/sbx_abc/upper/root',
      workRoot: '/var/lib/tp/runtime/sandboxes/sbx_abc/work/root',
      upperUsr: '/var/lib/tp/runtime/sandboxes/sbx_abc/upper/usr',
      workUsr: '/var/lib/tp/runtime/sandboxes/sbx_abc/work/usr',
    })
  })
})

describe('planMounts', () => {
  it('host template: skeleton root and host /usr, each under the sandbox writable layer', () => {
    const plan = planMounts({ spec: spec(), paths, hostTemplateRoot: '/var/lib/tp/runtime/templates/host/root', hostLayout: mergedUsr })
    expect(plan).toEqual({
      root: paths.merged,
      overlays: [
        { target: '/', lowers: ['/var/lib/tp/runtime/templates/host/root'], upper: paths.upperRoot, work: paths.workRoot },
        { target: '/usr', lowers: ['/usr'], upper: paths.upperUsr, work: paths.workUsr },
      ],
      binds: [],
      masks: [],
    })
  })

  it('host template on a host without merged /usr: real /bin and /lib come in read-only', () => {
    const plan = planMounts({
      spec: spec(),
      paths,
      hostTemplateRoot: '/t',
      hostLayout: [
        { name: 'bin', kind: 'dir' },
        { name: 'lib64', kind: 'symlink', target: 'usr/lib64' },
      ],
    })
    expect(plan.binds).toEqual([{ source: '/bin', target: '/bin', readOnly: true }])
  })

  it('rootfs-folder template: the folder is the single lower layer, no /usr from the host', () => {
    const plan = planMounts({ spec: spec({ template: { name: 'py', rootfs: '/srv/rootfs/py' } }), paths, hostTemplateRoot: '/t', hostLayout: [{ name: 'bin', kind: 'dir' }] })
    expect(plan.overlays).toEqual([{ target: '/', lowers: ['/srv/rootfs/py'], upper: paths.upperRoot, work: paths.workRoot }])
    expect(plan.binds).toEqual([])
  })

  it('template layers: the last one is topmost; host templates stack usr/ parts over /usr', () => {
    const layers = [{ root: '/l/a/root', usr: '/l/a/usr' }, { root: '/l/b/root' }, { root: '/l/c/root', usr: '/l/c/usr' }]
    const host = planMounts({ spec: spec(), paths, hostTemplateRoot: '/t', hostLayout: mergedUsr, layers })
    expect(host.overlays).toEqual([
      { target: '/', lowers: ['/l/c/root', '/l/b/root', '/l/a/root', '/t'], upper: paths.upperRoot, work: paths.workRoot },
      { target: '/usr', lowers: ['/l/c/usr', '/l/a/usr', '/usr'], upper: paths.upperUsr, work: paths.workUsr },
    ])
    const rootfs = planMounts({ spec: spec({ template: { name: 'py', rootfs: '/srv/py' } }), paths, hostTemplateRoot: '/t', hostLayout: [], layers })
    expect(rootfs.overlays).toEqual([{ target: '/', lowers: ['/l/c/root', '/l/b/root', '/l/a/root', '/srv/py'], upper: paths.upperRoot, work: paths.workRoot }])
  })

  it('normalises denyRead paths into masks', () => {
    const plan = planMounts({ spec: spec({ denyRead: ['/etc/secret', '/home/user/.ssh/', '/a//b'] }), paths, hostTemplateRoot: '/t', hostLayout: [] })
    expect(plan.masks).toEqual(['/etc/secret', '/home/user/.ssh', '/a/b'])
  })

  it('rejects unusable paths with a message naming the field', () => {
    expect(() => planMounts({ spec: spec({ denyRead: ['relative'] }), paths, hostTemplateRoot: '/t', hostLayout: [] })).toThrow(/denyRead\[0\] must be an absolute path/)
    expect(() => planMounts({ spec: spec({ denyRead: ['/'] }), paths, hostTemplateRoot: '/t', hostLayout: [] })).toThrow(/other than \//)
    expect(() => planMounts({ spec: spec({ template: { name: 'x', rootfs: '/a:b' } }), paths, hostTemplateRoot: '/t', hostLayout: [] })).toThrow(/template x rootfs must be .* without ':'/)
    expect(() => planMounts({ spec: spec({ template: { name: 'x', rootfs: 'rel/dir' } }), paths, hostTemplateRoot: '/t', hostLayout: [] })).toThrow(/absolute/)
  })

  it('checkSandboxPath refuses parent references', () => {
    expect(() => checkSandboxPath('/a/../../etc', 'p')).toThrow(/p must be/)
    expect(checkSandboxPath('/a/./b', 'p')).toBe('/a/b')
  })
})

describe('checkHotMount', () => {
  it('normalises source and target and defaults to read-write', () => {
    expect(checkHotMount({ source: '/run/tp//c-1/', target: '/run/postgresql/' })).toEqual({ source: '/run/tp/c-1', target: '/run/postgresql', readOnly: false })
    expect(checkHotMount({ source: '/srv/x', target: '/mnt/./a', readOnly: true })).toEqual({ source: '/srv/x', target: '/mnt/a', readOnly: true })
  })

  it('allows data and socket places, and /mnt and /workspace as a whole', () => {
    for (const t of ['/run/postgresql', '/var/run/postgresql', '/tmp/pg', '/home/user/db', '/mnt', '/mnt/data', '/workspace', '/workspace/db']) {
      expect(checkHotMountTarget(t)).toBe(t)
    }
  })

  it('refuses targets that would shadow system paths, relative ones and parent references', () => {
    expect(() => checkHotMountTarget('/')).toThrow(/other than \//)
    for (const t of [
      '/usr',
      '/usr/lib/x',
      '/etc',
      '/etc/postgresql',
      '/proc',
      '/proc/1',
      '/dev',
      '/dev/shm',
      '/sys',
      '/bin',
      '/sbin',
      '/lib',
      '/root',
      '/var',
      '/var/lib/x',
      '/run',
      '/tmp',
      '/home',
      '/runx/a',
      '/tmpfoo',
    ]) {
      expect(() => checkHotMountTarget(t), t).toThrow(/would shadow a system path/)
    }
    expect(() => checkHotMountTarget('run/postgresql')).toThrow(/absolute path inside the sandbox/)
    expect(() => checkHotMountTarget('/run/../etc')).toThrow(/absolute path inside the sandbox/)
    expect(() => checkHotMountTarget('/run/a\0b')).toThrow(/absolute path inside the sandbox/)
  })

  it('refuses sources that are relative, the host root or climb with ..', () => {
    for (const source of ['relative/dir', '', '/', '//', '/srv/../etc', '/a\nb']) {
      expect(() => checkHotMount({ source, target: '/run/x' }), source).toThrow(/source must be/)
    }
    expect(() => checkHotMount({ source: '/srv/x', target: '/etc/x' })).toThrow(/system path/)
  })
})
