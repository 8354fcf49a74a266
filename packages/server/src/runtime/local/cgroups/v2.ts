/** @module runtime/local/cgroups/v2 — cgroup v2: limits in the unified tree, and tracking in any cgroup2 tree (also a hybrid host's). */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ResourceLimits, SandboxStats } from '../../runtime.js'
import { readText } from '../host-files.js'
import { RuntimeError, messageOf } from '../runtime-error.js'
import { keyed, readNumber } from './cgroupfs.js'
import type { CgroupLimits, CgroupProblem, CgroupTracker, ExecCgroup, SandboxCgroupFiles } from './drivers.js'
import { v2Controllers } from './layout.js'

export const PERIOD_US = 100_000

/** cpu.max (`<quota> <period>` or `max <period>`) as cores; undefined for no limit or an unreadable file. */
export function cpuMaxCores(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(' ')
  const q = Number(quota)
  const p = Number(period)
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : undefined
}

/** `{ [key]: value }`, or nothing when the value is unknown (optional stats fields stay absent). */
export function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number }
}

/** memory.max, cpu.max and pids.max in `<root>/<rel>`. */
export class V2Limits implements CgroupLimits {
  readonly version = 2
  readonly hierarchies: readonly string[]
  readonly pidsRoot: string

  constructor(readonly root: string) {
    this.hierarchies = [root]
    this.pidsRoot = root
  }

  problems(): CgroupProblem[] {
    const root = this.root
    const available = readText(join(root, 'cgroup.controllers'))?.split(/\s+/) ?? []
    return v2Controllers
      .filter((c) => !available.includes(c))
      .map((c) => ({
        name: `cgroup ${c}`,
        detail: `cgroup v2 controller ${c} is not available at ${root} (cgroup.controllers: ${available.join(' ') || 'none'})`,
        fix: `enable it on the host (kernel config / boot with cgroup_enable=${c}); tidepool enables it in ${root}/cgroup.subtree_control itself`,
      }))
  }

  mountOf(): string {
    return this.root
  }

  prepare(base: string, parent: string): void {
    enableControllers(this.root)
    mkdirSync(join(this.root, parent), { recursive: true })
    enableControllers(join(this.root, base))
    enableControllers(join(this.root, parent))
  }

  supervisorProcs(): string[] {
    return []
  }

  write(rel: string, limits: ResourceLimits): void {
    const dir = join(this.root, rel)
    const quota = Math.max(1000, Math.round(limits.cpu * PERIOD_US))
    writeFileSync(join(dir, 'memory.max'), String(limits.memoryMb * 1024 * 1024))
    if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0')
    writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`)
    writeFileSync(join(dir, 'pids.max'), String(limits.pids))
  }

  memoryUsage(rel: string): number | undefined {
    return readNumber(join(this.root, rel, 'memory.current'))
  }

  memoryLimit(rel: string): number | undefined {
    return readNumber(join(this.root, rel, 'memory.max'))
  }

  usage(rel: string): Omit<SandboxStats, 'oomKills'> | undefined {
    const f = (name: string) => join(this.root, rel, name)
    const usage = readNumber(f('memory.current'))
    if (usage === undefined) return undefined
    return {
      cpuSeconds: (keyed(readText(f('cpu.stat')) ?? '', 'usage_usec') ?? 0) / 1e6,
      memoryBytes: usage,
      memoryPeakBytes: readNumber(f('memory.peak')) ?? usage,
      memoryLimitBytes: readNumber(f('memory.max')) ?? Number.MAX_SAFE_INTEGER,
      pids: readNumber(f('pids.current')) ?? 0,
      pidsLimit: readNumber(f('pids.max')) ?? Number.MAX_SAFE_INTEGER,
      ...optional('cpuLimit', cpuMaxCores(readText(f('cpu.max')))),
      ...optional('pidsLimitHits', keyed(readText(f('pids.events')) ?? '', 'max')),
    }
  }

  oomKills(rel: string): number {
    return keyed(readText(join(this.root, rel, 'memory.events')) ?? '', 'oom_kill') ?? 0
  }
}

/**
 * Processes in a cgroup2 tree: init and each exec's command are cloned straight into their cgroup
 * (a v1 migration waits for an RCU grace period, ~10 ms, which an exec must not pay), frozen with
 * cgroup.freeze (which lets SIGKILL through) and ended with cgroup.kill.
 */
export class Cgroup2Tracker implements CgroupTracker {
  readonly hierarchies: readonly string[]

  constructor(readonly root: string) {
    this.hierarchies = [root]
  }

  get cgroup2Tree(): string {
    return this.root
  }

  get freezerMount(): string {
    return this.root
  }

  problems(): CgroupProblem[] {
    return []
  }

  placeInit(rel: string): Pick<SandboxCgroupFiles, 'initInto' | 'init'> {
    return { initInto: join(this.root, rel), init: [] }
  }

  execCgroup(rel: string, name: string): ExecCgroup {
    return { name, cloneInto: join(this.root, rel, name), procs: [] }
  }

  killDir(rel: string): string {
    return join(this.root, rel)
  }

  releaseFrozen(): undefined {
    return undefined
  }

  state(rel: string): 'frozen' | 'thawed' | undefined {
    const dir = join(this.root, rel)
    const events = readText(join(dir, 'cgroup.events'))
    if (events === undefined) return undefined
    return keyed(events, 'frozen') === 1 ? 'frozen' : readText(join(dir, 'cgroup.freeze'))?.trim() === '1' ? 'frozen' : 'thawed'
  }

  setFrozen(rel: string, frozen: boolean): void {
    writeFileSync(join(this.root, rel, 'cgroup.freeze'), frozen ? '1' : '0')
  }
}

/** Turns on the controllers we need for the children of a v2 cgroup. */
function enableControllers(dir: string): void {
  const enabled = readText(join(dir, 'cgroup.subtree_control'))?.split(/\s+/) ?? []
  const missing = v2Controllers.filter((c) => !enabled.includes(c))
  if (missing.length === 0) return
  try {
    writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '))
  } catch (err) {
    throw new RuntimeError(
      'runtime_unavailable',
      `could not enable cgroup controllers ${missing.join(', ')} in ${dir}/cgroup.subtree_control: ${messageOf(err)}; processes directly in that cgroup block it (move them to a leaf cgroup) or delegate it to tidepool`,
      { cause: err },
    )
  }
}
