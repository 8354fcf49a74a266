/** @module runtime/local/cgroups/v1 — cgroup v1: limits in the memory, cpu, cpuacct and pids hierarchies; tracking in pids + freezer where no cgroup2 tree is mounted. */
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ResourceLimits, SandboxStats } from '../../runtime.js'
import { readText } from '../host-files.js'
import { keyed, listProcs, moveAll, readNumber } from './cgroupfs.js'
import type { CgroupLimits, CgroupProblem, CgroupTracker, ExecCgroup, SandboxCgroupFiles } from './drivers.js'
import { type V1Controller, v1Resources } from './layout.js'
import { PERIOD_US, optional } from './v2.js'

type Mounts = Partial<Record<V1Controller, string>>

function problem(c: V1Controller): CgroupProblem {
  return { name: `cgroup ${c}`, detail: `cgroup v1 ${c} controller is not mounted`, fix: `mount it: mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}` }
}

/** memory.limit_in_bytes (and memsw), cpu.cfs_quota_us and pids.max, each in its controller's hierarchy. */
export class V1Limits implements CgroupLimits {
  readonly version = 1
  readonly hierarchies: readonly string[]
  readonly pidsRoot: string | undefined
  readonly #mounts: Mounts

  constructor(mounts: Mounts) {
    this.#mounts = mounts
    // Co-mounted controllers (cpu,cpuacct) share one directory.
    this.hierarchies = [...new Set(v1Resources.map((c) => mounts[c]).filter((p): p is string => !!p))]
    this.pidsRoot = mounts.pids
  }

  problems(): CgroupProblem[] {
    return v1Resources.filter((c) => !this.#mounts[c]).map(problem)
  }

  mountOf(controller: string): string | undefined {
    return this.#mounts[controller as V1Controller]
  }

  prepare(): void {}

  supervisorProcs(rel: string): string[] {
    return this.hierarchies.map((h) => join(h, rel, 'cgroup.procs'))
  }

  write(rel: string, limits: ResourceLimits, currentLimit: number | undefined): void {
    const bytes = String(limits.memoryMb * 1024 * 1024)
    const quota = Math.max(1000, Math.round(limits.cpu * PERIOD_US))
    const limit = this.#file(rel, 'memory', 'memory.limit_in_bytes')
    const memsw = this.#file(rel, 'memory', 'memory.memsw.limit_in_bytes')
    // The kernel keeps limit <= memsw limit: raise memsw first, lower the limit first.
    const raising = currentLimit !== undefined && Number(bytes) >= currentLimit
    const hasMemsw = existsSync(memsw)
    if (raising && hasMemsw) writeFileSync(memsw, bytes)
    writeFileSync(limit, bytes)
    if (!raising && hasMemsw) writeFileSync(memsw, bytes)
    writeFileSync(this.#file(rel, 'cpu', 'cpu.cfs_quota_us'), String(quota))
    writeFileSync(this.#file(rel, 'pids', 'pids.max'), String(limits.pids))
  }

  memoryUsage(rel: string): number | undefined {
    return readNumber(this.#file(rel, 'memory', 'memory.usage_in_bytes'))
  }

  memoryLimit(rel: string): number | undefined {
    return readNumber(this.#file(rel, 'memory', 'memory.limit_in_bytes'))
  }

  usage(rel: string): Omit<SandboxStats, 'oomKills'> | undefined {
    const mem = (f: string) => readNumber(this.#file(rel, 'memory', f))
    const usage = mem('memory.usage_in_bytes')
    if (usage === undefined) return undefined
    return {
      cpuSeconds: (readNumber(this.#file(rel, 'cpuacct', 'cpuacct.usage')) ?? 0) / 1e9,
      memoryBytes: usage,
      memoryPeakBytes: mem('memory.max_usage_in_bytes') ?? usage,
      memoryLimitBytes: mem('memory.limit_in_bytes') ?? 0,
      pids: readNumber(this.#file(rel, 'pids', 'pids.current')) ?? 0,
      pidsLimit: readNumber(this.#file(rel, 'pids', 'pids.max')) ?? Number.MAX_SAFE_INTEGER,
      ...optional('cpuLimit', this.#cpuCores(rel)),
      ...optional('pidsLimitHits', keyed(readText(this.#file(rel, 'pids', 'pids.events')) ?? '', 'max')),
    }
  }

  /** cpu.cfs_quota_us / cpu.cfs_period_us as cores; undefined for no quota (-1). */
  #cpuCores(rel: string): number | undefined {
    const quota = readNumber(this.#file(rel, 'cpu', 'cpu.cfs_quota_us'))
    const period = readNumber(this.#file(rel, 'cpu', 'cpu.cfs_period_us'))
    return quota !== undefined && quota > 0 && period !== undefined && period > 0 ? quota / period : undefined
  }

  oomKills(rel: string): number {
    return keyed(readText(this.#file(rel, 'memory', 'memory.oom_control')) ?? '', 'oom_kill') ?? 0
  }

  #file(rel: string, c: V1Controller, file: string): string {
    return join(this.#mounts[c] ?? '/nonexistent', rel, file)
  }
}

/**
 * Processes on a host without a cgroup2 tree: exec cgroups in the pids hierarchy, joined after fork
 * (each exec pays a cgroup migration), together with the sandbox's freezer cgroup, which pauses it.
 */
export class V1Tracker implements CgroupTracker {
  readonly cgroup2Tree = undefined
  readonly hierarchies: readonly string[]
  readonly #freezer: string | undefined
  /** Tracking mounts no resource controller shares, which init and commands must join themselves. */
  readonly #own: string[]

  /** `resourceMounts`: where the supervisor already is (its children inherit those cgroups). */
  constructor(
    readonly root: string,
    freezer: string | undefined,
    resourceMounts: readonly string[],
  ) {
    this.#freezer = freezer
    this.hierarchies = freezer ? [freezer] : []
    this.#own = freezer && !resourceMounts.includes(freezer) ? [freezer] : []
  }

  get freezerMount(): string | undefined {
    return this.#freezer
  }

  problems(): CgroupProblem[] {
    return this.#freezer ? [] : [problem('freezer')]
  }

  placeInit(rel: string): Pick<SandboxCgroupFiles, 'initInto' | 'init'> {
    return { init: this.#own.map((h) => join(h, rel, 'cgroup.procs')) }
  }

  execCgroup(rel: string, name: string): ExecCgroup {
    return { name, procs: [join(this.root, rel, name, 'cgroup.procs'), ...this.#own.map((h) => join(h, rel, 'cgroup.procs'))] }
  }

  killDir(): undefined {
    return undefined
  }

  /** The doomed processes alone move to the (never frozen) root of the freezer tree: thawing the sandbox would wake all of it. */
  releaseFrozen(rel: string, dir: string): (() => void) | undefined {
    const freezer = this.#freezer
    if (!freezer || this.state(rel) !== 'frozen') return undefined
    return () => moveAll(listProcs(dir), join(freezer, 'cgroup.procs'))
  }

  state(rel: string): 'frozen' | 'thawed' | undefined {
    const s = readText(join(this.#freezer ?? '/nonexistent', rel, 'freezer.state'))
    return s === undefined ? undefined : s.trim() === 'THAWED' ? 'thawed' : 'frozen'
  }

  setFrozen(rel: string, frozen: boolean): void {
    writeFileSync(join(this.#freezer ?? '/nonexistent', rel, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED')
  }
}
