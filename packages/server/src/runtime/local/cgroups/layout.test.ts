import { describe, expect, it } from 'vitest'
import { keyed } from './cgroupfs.js'
import { detectCgroups } from './layout.js'

const hybrid = `sysfs /sys sysfs rw 0 0
tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`

describe('detectCgroups', () => {
  it('hybrid: v1 controllers at their mount points plus the cgroup2 tree', () => {
    expect(detectCgroups(hybrid)).toEqual({
      version: 1,
      controllers: {
        cpu: '/sys/fs/cgroup/cpu',
        cpuacct: '/sys/fs/cgroup/cpuacct',
        memory: '/sys/fs/cgroup/memory',
        freezer: '/sys/fs/cgroup/freezer',
        pids: '/sys/fs/cgroup/pids',
      },
      unified: '/sys/fs/cgroup/unified',
    })
  })

  it('co-mounted v1 controllers share one hierarchy', () => {
    const l = detectCgroups('cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n')
    expect(l).toEqual({ version: 1, controllers: { cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory' } })
  })

  it('pure v2', () => {
    expect(detectCgroups('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n')).toEqual({ version: 2, root: '/sys/fs/cgroup' })
  })

  it('none, and octal escapes in mount points', () => {
    expect(detectCgroups('proc /proc proc rw 0 0\n')).toEqual({ version: 'none' })
    expect(detectCgroups('cgroup2 /mnt/my\\040cg cgroup2 rw 0 0\n')).toEqual({ version: 2, root: '/mnt/my cg' })
  })
})

describe('keyed', () => {
  it('reads "key value" lines', () => {
    expect(keyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n', 'oom_kill')).toBe(3)
    expect(keyed('low 0\nhigh 0\n', 'oom_kill')).toBeUndefined()
  })
})
