/**
 * Cgroups against temporary trees that imitate the cgroupfs files they read and write (no root): a v2
 * host, a hybrid host (v1 limits, cgroup2 tracking — this machine), and a v1-only host. The kernel's
 * side (usage counters, events) is written by the test; what tidepool writes is read back.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createCgroups } from './create-cgroups.js'

const limits = { cpu: 0.5, memoryMb: 64, pids: 32 }
const MiB = 1024 * 1024
let tmp: string
const read = (...p: string[]) => readFileSync(join(tmp, ...p), 'utf8')
const put = (text: string, ...p: string[]) => writeFileSync(join(tmp, ...p), text)

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tidepool-cgroupfs-'))
})
afterEach(() => rmSync(tmp, { recursive: true, force: true }))

function v1Mounts(): Record<'memory' | 'cpu' | 'cpuacct' | 'pids' | 'freezer', string> {
  const m = { memory: join(tmp, 'memory'), cpu: join(tmp, 'cpu'), cpuacct: join(tmp, 'cpuacct'), pids: join(tmp, 'pids'), freezer: join(tmp, 'freezer') }
  for (const d of Object.values(m)) mkdirSync(d)
  return m
}

describe('cgroup v2', () => {
  const make = () => {
    put('cpuset cpu io memory pids', 'cgroup.controllers')
    return createCgroups({ version: 2, root: tmp }, 'tp', 'i1', { pidsCeiling: 500 })
  }

  it('create: controllers enabled down the path, limits and the pids ceiling written, init cloned into the sandbox', () => {
    const cg = make()
    expect(cg.problems()).toEqual([])
    expect(cg.create('s1', limits)).toEqual({ supervisor: [], initInto: join(tmp, 'tp/i1/s1'), init: [] })
    for (const d of ['', 'tp', 'tp/i1']) expect(read(d, 'cgroup.subtree_control')).toBe('+memory +cpu +pids')
    expect(read('tp/pids.max')).toBe('500')
    expect([read('tp/i1/s1/memory.max'), read('tp/i1/s1/cpu.max'), read('tp/i1/s1/pids.max')]).toEqual([String(64 * MiB), '50000 100000', '32'])
    expect(existsSync(join(tmp, 'tp/i1/s1/memory.swap.max'))).toBe(false) // written only where the kernel has swap accounting
    expect(cg.sandboxDirs('s1')).toEqual([join(tmp, 'tp/i1/s1')])
    expect(cg.list()).toEqual(['s1'])
    expect([cg.version, cg.cgroup2Tree, cg.mountOf('memory'), cg.mountOf('freezer')]).toEqual([2, tmp, tmp, tmp])
  })

  it('a missing controller is a problem with a fix, and create refuses', () => {
    put('cpu memory', 'cgroup.controllers')
    const cg = createCgroups({ version: 2, root: tmp }, 'tp', 'i1')
    expect(cg.problems().map((p) => p.name)).toEqual(['cgroup pids'])
    expect(() => cg.create('s1', limits)).toThrow(/controller pids is not available/)
  })

  it('stats read the kernel counters; a resize below current usage is refused, above it written', () => {
    const cg = make()
    cg.create('s1', limits)
    put(String(10 * MiB), 'tp/i1/s1/memory.current')
    put(String(12 * MiB), 'tp/i1/s1/memory.peak')
    put('usage_usec 2500000\nuser_usec 2000000\n', 'tp/i1/s1/cpu.stat')
    put('3', 'tp/i1/s1/pids.current')
    put('low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n', 'tp/i1/s1/memory.events')
    put('max 7\n', 'tp/i1/s1/pids.events')
    expect(cg.stats('s1')).toEqual({
      cpuSeconds: 2.5,
      memoryBytes: 10 * MiB,
      memoryPeakBytes: 12 * MiB,
      memoryLimitBytes: 64 * MiB,
      pids: 3,
      pidsLimit: 32,
      oomKills: 2,
      cpuLimit: 0.5,
      pidsLimitHits: 7,
    })
    expect(cg.lastOomKills('s1')).toBe(2)
    expect(() => cg.resize('s1', { ...limits, memoryMb: 8 })).toThrow(/below what sandbox s1 uses now \(10 MiB\)/)
    put('max', 'tp/i1/s1/memory.swap.max')
    cg.resize('s1', { cpu: 2, memoryMb: 128, pids: 64 })
    expect([read('tp/i1/s1/memory.max'), read('tp/i1/s1/memory.swap.max'), read('tp/i1/s1/cpu.max'), read('tp/i1/s1/pids.max')]).toEqual([String(128 * MiB), '0', '200000 100000', '64'])
    expect(() => cg.stats('gone')).toThrow(/sandbox gone has no cgroups/)
  })

  it('freeze and thaw through cgroup.freeze; state follows cgroup.events', async () => {
    const cg = make()
    cg.create('s1', limits)
    expect(cg.state('s1')).toBeUndefined() // no cgroup.events: as when the cgroup is gone
    put('populated 1\nfrozen 0\n', 'tp/i1/s1/cgroup.events')
    expect(cg.state('s1')).toBe('thawed')
    await cg.freeze('s1')
    expect(read('tp/i1/s1/cgroup.freeze')).toBe('1')
    expect(cg.state('s1')).toBe('frozen') // freezing: cgroup.freeze says so before events do
    cg.thaw('s1')
    expect([read('tp/i1/s1/cgroup.freeze'), cg.state('s1')]).toEqual(['0', 'thawed'])
    await expect(cg.freeze('gone')).rejects.toThrow(/sandbox gone has no cgroups/)
  })

  it('exec cgroups are cloned into, kept as spares when released, and listed', async () => {
    const cg = make()
    cg.create('s1', limits)
    const a = cg.createExec('s1')
    expect(a).toEqual({ name: 'x1', cloneInto: join(tmp, 'tp/i1/s1/x1'), procs: [] })
    expect(existsSync(a.cloneInto!)).toBe(true)
    expect(cg.execEmpty('s1', 'x1')).toBe(true)
    cg.releaseExec('s1', 'x1')
    expect(cg.createExec('s1').name).toBe('x1') // the spare, no mkdir
    expect(cg.createExec('s1').name).toBe('x2')
    expect(cg.execNames('s1').sort()).toEqual(['x1', 'x2'])
    put('4242\n', 'tp/i1/s1/x2/cgroup.procs')
    expect(cg.execEmpty('s1', 'x2')).toBe(false)
    rmSync(join(tmp, 'tp/i1/s1/x2/cgroup.procs'))
    expect(await cg.killExec('s1', 'x2')).toBe(true) // empty: removed at once
    expect(cg.execNames('s1')).toEqual(['x1'])
    expect(() => cg.createExec('gone')).toThrow(/sandbox gone has no cgroups/)
    expect(await cg.killAll('s1')).toBe(true)
  })
})

describe('cgroup v1 on a hybrid host (v1 limits, cgroup2 tracking)', () => {
  const make = () => {
    const controllers = v1Mounts()
    const unified = join(tmp, 'unified')
    mkdirSync(unified)
    return { controllers, unified, cg: createCgroups({ version: 1, controllers, unified }, 'tp', 'i1', { pidsCeiling: 500 }) }
  }

  it('create: the supervisor joins the resource cgroups, init is cloned into the cgroup2 tree; no v1 freezer is used', () => {
    const { controllers: c, unified, cg } = make()
    rmSync(c.freezer, { recursive: true })
    const files = cg.create('s1', limits)
    expect(files).toEqual({ supervisor: ['memory', 'cpu', 'cpuacct', 'pids'].map((h) => join(tmp, h, 'tp/i1/s1/cgroup.procs')), initInto: join(unified, 'tp/i1/s1'), init: [] })
    expect(cg.problems()).toEqual([]) // the v1 freezer is not needed with a cgroup2 tree
    expect(cg.sandboxDirs('s1').sort()).toEqual(['cpu', 'cpuacct', 'memory', 'pids', 'unified'].map((h) => join(tmp, h, 'tp/i1/s1')))
    expect([read('memory/tp/i1/s1/memory.limit_in_bytes'), read('cpu/tp/i1/s1/cpu.cfs_quota_us'), read('pids/tp/i1/s1/pids.max'), read('pids/tp/pids.max')]).toEqual([
      String(64 * MiB),
      '50000',
      '32',
      '500',
    ])
    expect([cg.version, cg.cgroup2Tree, cg.mountOf('freezer'), cg.mountOf('cpuacct')]).toEqual([1, unified, unified, c.cpuacct])
    expect(cg.createExec('s1')).toEqual({ name: 'x1', cloneInto: join(unified, 'tp/i1/s1/x1'), procs: [] })
  })

  it('stats from the v1 files; memsw follows the limit (raised first when growing)', () => {
    const { cg } = make()
    cg.create('s1', limits)
    put(String(20 * MiB), 'memory/tp/i1/s1/memory.usage_in_bytes')
    put(String(30 * MiB), 'memory/tp/i1/s1/memory.max_usage_in_bytes')
    put('oom_kill_disable 0\nunder_oom 0\noom_kill 1\n', 'memory/tp/i1/s1/memory.oom_control')
    put('1500000000', 'cpuacct/tp/i1/s1/cpuacct.usage')
    put('5', 'pids/tp/i1/s1/pids.current')
    put('100000', 'cpu/tp/i1/s1/cpu.cfs_period_us')
    put('max 3\n', 'pids/tp/i1/s1/pids.events')
    expect(cg.stats('s1')).toEqual({
      cpuSeconds: 1.5,
      memoryBytes: 20 * MiB,
      memoryPeakBytes: 30 * MiB,
      memoryLimitBytes: 64 * MiB,
      pids: 5,
      pidsLimit: 32,
      oomKills: 1,
      cpuLimit: 0.5,
      pidsLimitHits: 3,
    })
    put(String(64 * MiB), 'memory/tp/i1/s1/memory.memsw.limit_in_bytes')
    cg.resize('s1', { ...limits, memoryMb: 96 })
    expect([read('memory/tp/i1/s1/memory.limit_in_bytes'), read('memory/tp/i1/s1/memory.memsw.limit_in_bytes')]).toEqual([String(96 * MiB), String(96 * MiB)])
    expect(() => cg.resize('s1', { ...limits, memoryMb: 16 })).toThrow(/below what sandbox s1 uses now \(20 MiB\)/)
  })

  it('freezes in the cgroup2 tree', async () => {
    const { cg } = make()
    cg.create('s1', limits)
    put('frozen 1\n', 'unified/tp/i1/s1/cgroup.events')
    await cg.freeze('s1')
    expect([read('unified/tp/i1/s1/cgroup.freeze'), cg.state('s1')]).toEqual(['1', 'frozen'])
    expect(existsSync(join(tmp, 'freezer/tp'))).toBe(false)
  })
})

describe('cgroup v1 only (no cgroup2 tree)', () => {
  const make = () => {
    const controllers = v1Mounts()
    return { controllers, cg: createCgroups({ version: 1, controllers }, 'tp', 'i1') }
  }

  it('init and each command join the freezer cgroup themselves; exec cgroups are in the pids hierarchy', () => {
    const { cg } = make()
    const files = cg.create('s1', limits)
    expect(files.initInto).toBeUndefined()
    expect(files.init).toEqual([join(tmp, 'freezer/tp/i1/s1/cgroup.procs')])
    expect(cg.cgroup2Tree).toBeUndefined()
    expect(cg.mountOf('freezer')).toBe(join(tmp, 'freezer'))
    expect(cg.createExec('s1')).toEqual({ name: 'x1', procs: [join(tmp, 'pids/tp/i1/s1/x1/cgroup.procs'), join(tmp, 'freezer/tp/i1/s1/cgroup.procs')] })
    expect(cg.execNames('s1')).toEqual(['x1'])
  })

  it('a missing freezer is a problem (nothing else could pause)', () => {
    const { controllers: c } = make()
    const cg = createCgroups({ version: 1, controllers: { ...c, freezer: undefined } }, 'tp', 'i1')
    expect(cg.problems().map((p) => p.name)).toEqual(['cgroup freezer'])
    expect(() => cg.create('s1', limits)).toThrow(/freezer controller is not mounted/)
  })

  it('freezes with freezer.state', async () => {
    const { cg } = make()
    cg.create('s1', limits)
    await cg.freeze('s1')
    expect([read('freezer/tp/i1/s1/freezer.state'), cg.state('s1')]).toEqual(['FROZEN', 'frozen'])
    cg.thaw('s1')
    expect([read('freezer/tp/i1/s1/freezer.state'), cg.state('s1')]).toEqual(['THAWED', 'thawed'])
  })
})

describe('no cgroup filesystem', () => {
  it('reports what to mount and refuses to create', async () => {
    const cg = createCgroups({ version: 'none' }, 'tp', 'i1')
    expect([cg.version, cg.problems().map((p) => p.name), cg.list()]).toEqual(['none', ['cgroups'], []])
    expect(() => cg.create('s1', limits)).toThrow(/no cgroup filesystem is mounted/)
    expect(() => cg.createExec('s1')).toThrow(/no cgroup filesystem is mounted/)
    expect(await cg.killAll('s1')).toBe(true)
  })
})
