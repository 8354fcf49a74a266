/** @module runtime/gvisor/gvisor-cgroups — reads and resizes the host cgroup runsc made for one sandbox (v1 or v2). */
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CgroupLayout } from '../local/cgroups/layout.js'
import { cpuMaxCores, optional } from '../local/cgroups/v2.js'
import type { ResourceLimits, SandboxStats } from '../runtime.js'
import { RuntimeError } from '../local/runtime-error.js'
import { SENTRY_TASK_HEADROOM, linuxResources } from './oci-spec.js'

/** runsc uses cgroup2 only where /sys/fs/cgroup itself is cgroup2; a hybrid host's unified mount stays unused. */
export class GvisorCgroups {
  readonly #layout: CgroupLayout
  readonly #v1Mounts: string[]
  /** `mounts`: /proc/mounts text (runsc makes the sandbox's cgroup in every v1 hierarchy, blkio and devices too). */
  constructor(layout: CgroupLayout, mounts: string) {
    this.#layout = layout
    this.#v1Mounts = mounts
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[2] === 'cgroup' && f[1] !== undefined)
      .map((f) => f[1]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
  }

  get available(): boolean {
    return this.#layout.version !== 'none'
  }

  /** Every directory of cgroup `path` (relative, no leading slash) on this host. */
  dirs(path: string): string[] {
    const l = this.#layout
    if (l.version === 2) return [join(l.root, path)]
    if (l.version === 'none') return []
    return [...new Set([...Object.values(l.controllers), ...this.#v1Mounts])].map((mnt) => join(mnt, path))
  }

  #file(controller: 'memory' | 'cpu' | 'cpuacct' | 'pids', path: string, v1: string, v2: string): string {
    const l = this.#layout
    if (l.version === 2) return join(l.root, path, v2)
    const mnt = l.version === 1 ? l.controllers[controller] : undefined
    if (!mnt) throw new RuntimeError('runtime_unavailable', `the host has no ${controller} cgroup controller mounted; mount it (cgroups v1 or v2) to run gvisor sandboxes`)
    return join(mnt, path, v1)
  }

  stats(path: string): SandboxStats {
    const v2 = this.#layout.version === 2
    const num = (c: 'memory' | 'cpu' | 'cpuacct' | 'pids', f1: string, f2: string) => readNumber(this.#file(c, path, f1, f2))
    const memLimit = num('memory', 'memory.limit_in_bytes', 'memory.max')
    const pidsMax = num('pids', 'pids.max', 'pids.max')
    const cpu = v2 ? keyed(this.#file('cpu', path, '', 'cpu.stat'), 'usage_usec') / 1e6 : num('cpuacct', 'cpuacct.usage', '') / 1e9
    return {
      cpuSeconds: cpu,
      memoryBytes: num('memory', 'memory.usage_in_bytes', 'memory.current'),
      memoryPeakBytes: num('memory', 'memory.max_usage_in_bytes', 'memory.peak'),
      memoryLimitBytes: memLimit,
      // Host tasks of the sandbox: the sentry's threads and one stub per guest process (systrap).
      pids: num('pids', 'pids.current', 'pids.current'),
      pidsLimit: Math.max(0, pidsMax - SENTRY_TASK_HEADROOM),
      oomKills: this.oomKills(path),
      // The quota as cores (a resize is read back from it), absent for no quota.
      ...optional('cpuLimit', v2 ? cpuMaxCores(readOr(this.#file('cpu', path, '', 'cpu.max'))) : cores(num('cpu', 'cpu.cfs_quota_us', ''), num('cpu', 'cpu.cfs_period_us', ''))),
    }
  }

  oomKills(path: string): number {
    try {
      return keyed(this.#file('memory', path, 'memory.oom_control', 'memory.events'), 'oom_kill')
    } catch {
      return 0
    }
  }

  /** Live resize of the host limits (memory first down-to-up order does not matter: v1 has no memsw here). */
  resize(path: string, l: ResourceLimits): void {
    const r = linuxResources(l)
    const v2 = this.#layout.version === 2
    write(this.#file('memory', path, 'memory.limit_in_bytes', 'memory.max'), String(r.memory.limit))
    write(this.#file('cpu', path, 'cpu.cfs_quota_us', 'cpu.max'), v2 ? `${r.cpu.quota} ${r.cpu.period}` : String(r.cpu.quota))
    write(this.#file('pids', path, 'pids.max', 'pids.max'), String(r.pids.limit))
  }

  /** Removes the sandbox's cgroup directories runsc left (it removes them itself on a clean delete). */
  remove(path: string): void {
    for (const d of this.dirs(path)) {
      if (!existsSync(d)) continue
      try {
        rmdirSync(d)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
  }
}

function readNumber(file: string): number {
  const t = readFileSync(file, 'utf8').trim()
  if (t === 'max') return Number.MAX_SAFE_INTEGER
  const n = Number(t)
  return Number.isFinite(n) ? n : 0
}

/** The value of `key` in a "key value" per line file (memory.oom_control, memory.events, cpu.stat). */
function keyed(file: string, key: string): number {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [k, v] = line.split(' ')
    if (k === key) return Number(v) || 0
  }
  return 0
}

function write(file: string, value: string): void {
  try {
    writeFileSync(file, value)
  } catch (err) {
    throw new RuntimeError('invalid_request', `could not set ${file} to ${value}: ${(err as Error).message}`)
  }
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function cores(quota: number, period: number): number | undefined {
  return quota > 0 && period > 0 ? quota / period : undefined
}
