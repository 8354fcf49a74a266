import { describe, expect, it } from 'vitest'
import { SENTRY_TASK_HEADROOM, USER_ID, bundleSpec, linuxResources, processSpec } from './oci-spec.js'

const plan = {
  id: 'sbx_a1',
  root: '/data/gvisor/templates/host/root',
  hostLayout: [
    { name: 'bin', kind: 'symlink' as const, target: 'usr/bin' },
    { name: 'lib64', kind: 'dir' as const },
  ],
  masks: [
    { path: '/etc/secret', kind: 'file' as const },
    { path: '/opt/private', kind: 'dir' as const },
  ],
  emptyFile: '/data/gvisor/empty',
  cgroupsPath: '/tidepool-gvisor/abc/sbx_a1',
  resources: { cpu: 0.5, memoryMb: 128, pids: 64 },
}

describe('bundleSpec', () => {
  const spec = bundleSpec(plan) as {
    root: unknown
    hostname: string
    mounts: { destination: string; type: string; source: string; options: string[] }[]
    linux: { cgroupsPath: string; resources: unknown }
  }

  it('roots the sandbox read-only in the template and binds the host system dirs read-only', () => {
    expect(spec.root).toEqual({ path: plan.root, readonly: true })
    expect(spec.hostname).toBe('sbx_a1')
    const usr = spec.mounts.find((m) => m.destination === '/usr')!
    expect(usr).toMatchObject({ type: 'bind', source: '/usr' })
    expect(usr.options).toContain('ro')
    expect(spec.mounts.find((m) => m.destination === '/lib64')?.options).toContain('ro')
    // A merged-usr symlink is part of the skeleton, not a mount.
    expect(spec.mounts.find((m) => m.destination === '/bin')).toBeUndefined()
  })

  it('masks denyRead paths: an empty read-only file over a file, an empty read-only tmpfs over a dir', () => {
    expect(spec.mounts.find((m) => m.destination === '/etc/secret')).toMatchObject({ type: 'bind', source: plan.emptyFile })
    const dir = spec.mounts.find((m) => m.destination === '/opt/private')!
    expect(dir.type).toBe('tmpfs')
    expect(dir.options).toContain('ro')
  })

  it('puts the sandbox in its cgroup with the limits asked for, pids with the sentry headroom', () => {
    expect(spec.linux.cgroupsPath).toBe(plan.cgroupsPath)
    expect(spec.linux.resources).toEqual(linuxResources(plan.resources))
    expect(linuxResources(plan.resources)).toEqual({
      memory: { limit: 128 * 1_048_576 },
      cpu: { quota: 50_000, period: 100_000 },
      pids: { limit: 64 + SENTRY_TASK_HEADROOM },
    })
  })

  it('a template with its own rootfs gets no host binds', () => {
    const { hostLayout: _h, ...own } = plan
    const s = bundleSpec({ ...own, root: '/images/debian' }) as { mounts: { destination: string }[] }
    expect(s.mounts.map((m) => m.destination)).not.toContain('/usr')
  })
})

describe('processSpec', () => {
  it('gives root the default container capabilities and the user none; the env is exactly what was asked', () => {
    const root = processSpec(['id'], { A: '1', B: 'x=y' }, 'root')
    expect(root.user).toEqual({ uid: 0, gid: 0 })
    expect(root.capabilities.effective).toContain('CAP_CHOWN')
    expect(root.env).toEqual(['A=1', 'B=x=y'])
    const user = processSpec(['id'], {}, 'user')
    expect(user.user).toEqual({ uid: USER_ID, gid: USER_ID })
    expect(user.capabilities.effective).toEqual([])
    expect(user.noNewPrivileges).toBe(true)
  })
})
