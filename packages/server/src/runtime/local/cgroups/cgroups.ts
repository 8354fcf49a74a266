/** @module runtime/local/cgroups/cgroups — per-sandbox cgroups, the same on every host: limits, exec cgroups, freeze, stats, kill, remove. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ResourceLimits, SandboxStats } from '../../runtime.js'
import { errnoOf, pollUntil } from '../backoff.js'
import { subdirs } from '../host-files.js'
import { RuntimeError, messageOf } from '../runtime-error.js'
import { killAndWait, listProcs, rmdirRetry, tryRmdir } from './cgroupfs.js'
import type { CgroupLimits, CgroupProblem, CgroupTracker, ExecCgroup, SandboxCgroupFiles } from './drivers.js'

/** Empty exec cgroups kept per sandbox: enough for an agent's usual handful of concurrent commands. */
const SPARE_EXEC_CGROUPS = 4

const noCgroupfs: CgroupProblem = {
  name: 'cgroups',
  detail: 'no cgroup filesystem is mounted (see /proc/mounts)',
  fix: 'mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup) or the v1 controllers memory, cpu, cpuacct, pids, freezer',
}

function gone(id: string): RuntimeError {
  return new RuntimeError('not_found', `sandbox ${id} has no cgroups (it is gone)`)
}

/**
 * cgroups of every sandbox, under `<hierarchy>/<name>/<instance>/<sandbox id>`: `<name>` is shared by
 * every tidepool on the host (it holds their common pids ceiling), `<instance>` is this runtime's own,
 * and nothing outside it is ever listed or removed. What differs between v1 and v2 is in `limits`
 * (where the controllers are) and `tracker` (where processes are tracked, frozen and killed); both are
 * absent on a host with no cgroup filesystem, which `problems()` reports.
 */
export class Cgroups {
  readonly #limits: CgroupLimits | undefined
  readonly #tracker: CgroupTracker | undefined
  /** `<name>/<instance>`: the parent of this runtime's sandbox cgroups. */
  readonly #name: string
  /** `<name>` alone, shared with other instances. */
  readonly #base: string
  /** pids.max written on `<base>` (all sandboxes of all instances together), if any. */
  readonly #pidsCeiling: number | undefined
  /** Distinct hierarchy mount points a sandbox has a directory in. */
  readonly #hierarchies: string[]
  #parentReady = false
  #execSeq = 0
  /** Empty exec cgroups kept per sandbox for the next commands: a mkdir + rmdir per exec costs kernel work. */
  readonly #spare = new Map<string, string[]>()
  readonly #oomSeen = new Map<string, number>()

  constructor(drivers: { limits: CgroupLimits; tracker?: CgroupTracker } | undefined, name: string, instance: string, opts: { pidsCeiling?: number } = {}) {
    this.#limits = drivers?.limits
    this.#tracker = drivers?.tracker
    this.#base = name
    this.#name = `${name}/${instance}`
    this.#pidsCeiling = opts.pidsCeiling
    this.#hierarchies = [...new Set([...(this.#limits?.hierarchies ?? []), ...(this.#tracker?.hierarchies ?? [])])]
  }

  get version(): 1 | 2 | 'none' {
    return this.#limits?.version ?? 'none'
  }

  /** The cgroup2 mount where exec cgroups, freezing and kills live, if there is one. */
  get cgroup2Tree(): string | undefined {
    return this.#tracker?.cgroup2Tree
  }

  /** The parent of this runtime's sandbox cgroups, relative to each hierarchy (`<name>/<instance>`). */
  get parent(): string {
    return this.#name
  }

  /** What is missing for sandboxes, each with a fix; empty when everything is there. */
  problems(): CgroupProblem[] {
    if (!this.#limits) return [noCgroupfs]
    return [...this.#limits.problems(), ...(this.#tracker?.problems() ?? [])]
  }

  /** Where a controller is mounted; the freezer is wherever the tracker freezes (a cgroup2 tree when there is one). */
  mountOf(controller: string): string | undefined {
    return controller === 'freezer' ? this.#tracker?.freezerMount : this.#limits?.mountOf(controller)
  }

  /** Every cgroup directory of a sandbox (without exec children). */
  sandboxDirs(id: string): string[] {
    return this.#hierarchies.map((h) => join(h, this.#name, id))
  }

  /** Creates the sandbox's cgroups with limits; returns what its supervisor and its init join. */
  create(id: string, limits: ResourceLimits): SandboxCgroupFiles {
    const [l, t] = this.#ensureParent()
    for (const d of this.sandboxDirs(id)) mkdirSync(d)
    this.#writeLimits(id, limits, undefined)
    const rel = this.#rel(id)
    return { supervisor: l.supervisorProcs(rel), ...t.placeInit(rel) }
  }

  /** Writes new limits into a live sandbox's cgroups. */
  resize(id: string, limits: ResourceLimits): void {
    const current = this.#limits?.memoryUsage(this.#rel(id))
    if (current !== undefined && limits.memoryMb * 1024 * 1024 < current) {
      throw new RuntimeError(
        'invalid_request',
        `memoryMb ${limits.memoryMb} is below what sandbox ${id} uses now (${Math.ceil(current / 1048576)} MiB); free memory inside it or choose a higher limit`,
      )
    }
    this.#writeLimits(id, limits, this.#limits?.memoryLimit(this.#rel(id)))
  }

  /**
   * A fresh child cgroup for one exec, so its whole process tree can be killed as a unit (the tracker
   * says how the command enters it).
   */
  createExec(id: string): ExecCgroup {
    const t = this.#tracker
    if (!t) throw new RuntimeError('runtime_unavailable', 'no cgroup filesystem is mounted')
    const spare = this.#spare.get(id)?.pop()
    if (spare !== undefined) return t.execCgroup(this.#rel(id), spare)
    for (let attempt = 0; ; attempt++) {
      const name = `x${++this.#execSeq}`
      try {
        mkdirSync(join(t.root, this.#name, id, name))
      } catch (err) {
        if (errnoOf(err) === 'EEXIST' && attempt < 1000) continue
        if (errnoOf(err) === 'ENOENT') throw gone(id)
        throw err
      }
      return t.execCgroup(this.#rel(id), name)
    }
  }

  /** An exec ended and left its cgroup empty: keep it for the next one (a few per sandbox), else remove it. */
  releaseExec(id: string, name: string): void {
    const spare = this.#spare.get(id) ?? []
    if (spare.length >= SPARE_EXEC_CGROUPS) return this.removeExec(id, name)
    spare.push(name)
    this.#spare.set(id, spare)
  }

  /** Names of the sandbox's exec cgroups on the host (also ones a previous process made). */
  execNames(id: string): string[] {
    return this.#tracker ? subdirs(join(this.#tracker.root, this.#name, id)).filter((n) => /^x[0-9]+$/.test(n)) : []
  }

  /** True when no process is left in the exec's cgroup. */
  execEmpty(id: string, name: string): boolean {
    return this.#tracker === undefined || listProcs(join(this.#tracker.root, this.#name, id, name)).length === 0
  }

  /**
   * SIGKILLs every process of one exec, waits (bounded) until they are gone, and removes its cgroup, so
   * a command that was about to join it fails to start instead of escaping the kill.
   */
  async killExec(id: string, name: string, timeoutMs = 10_000): Promise<boolean> {
    const t = this.#tracker
    if (!t) return true
    const rel = join(this.#name, id, name)
    const deadline = Date.now() + timeoutMs
    const dir = join(t.root, rel)
    const release = t.releaseFrozen(this.#rel(id), dir)
    for (;;) {
      const empty = await killAndWait(t.killDir(rel), [dir], Math.max(0, deadline - Date.now()), release)
      if (!empty) return false
      if (tryRmdir(dir)) return true
      if (Date.now() > deadline) return false
    }
  }

  removeExec(id: string, name: string): void {
    if (this.#tracker) tryRmdir(join(this.#tracker.root, this.#name, id, name))
  }

  /**
   * SIGKILLs every process of the sandbox (thawing it so frozen ones die) and waits until none is left:
   * init and commands, and on v1 hosts its supervisor and exec handlers too (they sit in its v1 cgroups).
   */
  async killAll(id: string, timeoutMs = 5000): Promise<boolean> {
    this.#spare.delete(id)
    this.#oomSeen.delete(id)
    const roots = [this.#limits?.pidsRoot, this.#tracker?.root].filter((r): r is string => !!r)
    const dirs = [...new Set(roots.map((r) => join(r, this.#name, id)))].filter((d) => existsSync(d))
    if (dirs.length === 0) return true
    return killAndWait(this.#tracker?.killDir(this.#rel(id)), dirs, timeoutMs, () => this.#setFrozen(id, false))
  }

  /** Removes every cgroup directory of the sandbox, children first. Missing ones are fine. */
  async remove(id: string): Promise<void> {
    this.#spare.delete(id)
    for (const dir of this.sandboxDirs(id)) {
      if (!existsSync(dir)) continue
      for (const child of subdirs(dir)) await rmdirRetry(join(dir, child))
      await rmdirRetry(dir)
    }
  }

  /** Freezes every process of the sandbox; resolves once the kernel reports it frozen. */
  async freeze(id: string, timeoutMs = 5000): Promise<void> {
    this.#setFrozen(id, true)
    if (!(await pollUntil(() => this.state(id) === 'frozen', { timeoutMs, maxDelayMs: 50 }))) {
      this.#setFrozen(id, false)
      throw new RuntimeError('internal', `sandbox ${id} did not freeze within ${timeoutMs} ms (a process may be stuck in uninterruptible I/O); it was thawed again, retry later`)
    }
  }

  thaw(id: string): void {
    this.#setFrozen(id, false)
  }

  /**
   * Thaws and resolves once the kernel no longer reports the sandbox frozen: cgroup2's `frozen` in
   * cgroup.events can lag the write to cgroup.freeze, and a resume that returned early would let the
   * caller see its sandbox still paused.
   */
  async thawAndWait(id: string, timeoutMs = 5000): Promise<void> {
    this.#setFrozen(id, false)
    if (!(await pollUntil(() => this.state(id) !== 'frozen', { timeoutMs, maxDelayMs: 50 }))) {
      throw new RuntimeError('internal', `sandbox ${id} did not thaw within ${timeoutMs} ms`)
    }
  }

  /** 'frozen' (also while freezing), 'thawed', or undefined when the cgroup is gone. */
  state(id: string): 'frozen' | 'thawed' | undefined {
    return this.#tracker?.state(this.#rel(id))
  }

  /** How many times the kernel's OOM killer struck in this sandbox. */
  oomKills(id: string): number {
    const n = this.#limits?.oomKills(this.#rel(id)) ?? 0
    this.#oomSeen.set(id, n)
    return n
  }

  /** The OOM kill count last read (by the last command's end, or stats), without reading it again. */
  lastOomKills(id: string): number {
    return this.#oomSeen.get(id) ?? this.oomKills(id)
  }

  stats(id: string): SandboxStats {
    if (!this.#limits) throw new RuntimeError('runtime_unavailable', 'no cgroup filesystem is mounted')
    const usage = this.#limits.usage(this.#rel(id))
    if (!usage) throw gone(id)
    return { ...usage, oomKills: this.oomKills(id) }
  }

  /** Sandbox ids that have a cgroup directory in any hierarchy. */
  list(): string[] {
    return [...new Set(this.#hierarchies.flatMap((h) => subdirs(join(h, this.#name))))]
  }

  /** Removes this instance's parent directories when no sandbox is left in them, and `<name>` when no instance is (tests; tidy hosts). */
  removeParents(): void {
    for (const h of this.#hierarchies) {
      tryRmdir(join(h, this.#name))
      tryRmdir(join(h, this.#base))
    }
    this.#parentReady = false
  }

  #rel(id: string): string {
    return `${this.#name}/${id}`
  }

  #ensureParent(): [CgroupLimits, CgroupTracker] {
    const l = this.#limits
    const t = this.#tracker
    if (this.#parentReady && l && t) return [l, t]
    const problems = this.problems()
    if (!l || !t || problems.length > 0) {
      const p = problems[0] ?? noCgroupfs
      throw new RuntimeError('runtime_unavailable', `${p.detail}; ${p.fix}`)
    }
    l.prepare(this.#base, this.#name)
    for (const h of this.#hierarchies) mkdirSync(join(h, this.#name), { recursive: true })
    this.#writePidsCeiling()
    this.#parentReady = true
    return [l, t]
  }

  /**
   * The host's headroom: every sandbox of every instance together stays below this many tasks (the
   * kernel enforces pids.max hierarchically), so a fork bomb spread over sandboxes cannot starve host shells.
   */
  #writePidsCeiling(): void {
    const root = this.#limits?.pidsRoot
    if (this.#pidsCeiling === undefined || !root) return
    const file = join(root, this.#base, 'pids.max')
    try {
      writeFileSync(file, String(this.#pidsCeiling))
    } catch (err) {
      throw new RuntimeError('runtime_unavailable', `could not write the pids ceiling ${this.#pidsCeiling} into ${file}: ${messageOf(err)}`, { cause: err })
    }
  }

  #writeLimits(id: string, limits: ResourceLimits, currentLimit: number | undefined): void {
    try {
      this.#limits?.write(this.#rel(id), limits, currentLimit)
    } catch (err) {
      const code = errnoOf(err)
      if (code === 'EBUSY') throw new RuntimeError('invalid_request', `memoryMb ${limits.memoryMb} is below what sandbox ${id} uses now; free memory inside it or choose a higher limit`)
      if (code === 'ENOENT') throw gone(id)
      throw new RuntimeError('internal', `could not write cgroup limits of sandbox ${id}: ${messageOf(err)}`, { cause: err })
    }
  }

  #setFrozen(id: string, frozen: boolean): void {
    try {
      this.#tracker?.setFrozen(this.#rel(id), frozen)
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err
      if (frozen) throw gone(id)
    }
  }
}
