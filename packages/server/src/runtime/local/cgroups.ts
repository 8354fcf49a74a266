/** @module runtime/local/cgroups — per-sandbox cgroups on v1 (incl. hybrid) and v2 hosts: limits, freeze, stats, kill, remove. */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ResourceLimits, SandboxStats } from '../runtime.js'
import { RuntimeError, messageOf } from './runtime-error.js'

/** The v1 controllers a sandbox needs (freezer only where no cgroup2 tree is mounted to freeze with). */
export const v1Controllers = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'] as const
export type V1Controller = (typeof v1Controllers)[number]
/** The v1 controllers that limit resources; a sandbox's supervisor joins these, and everything it forks inherits them. */
const v1Resources = ['memory', 'cpu', 'cpuacct', 'pids'] as const
/** The v2 controllers a sandbox needs (freezing is built into v2). */
export const v2Controllers = ['memory', 'cpu', 'pids'] as const

export type CgroupLayout =
  /** v1 controllers, each at its mount point (co-mounted ones share it); `unified` is a hybrid host's cgroup2 mount. */
  | { version: 1; controllers: Partial<Record<V1Controller, string>>; unified?: string }
  | { version: 2; root: string }
  | { version: 'none' }

/** Reads the cgroup layout from /proc/mounts text (pure). */
export function detectCgroups(mounts: string): CgroupLayout {
  const controllers: Partial<Record<V1Controller, string>> = {}
  let unified: string | undefined
  for (const line of mounts.split('\n')) {
    const [, mnt, type, opts] = line.split(' ')
    if (!mnt || !opts) continue
    const path = mnt.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
    if (type === 'cgroup2') {
      // Prefer the canonical place when cgroup2 is mounted more than once.
      if (unified === undefined || path.startsWith('/sys/fs/cgroup')) unified = path
    } else if (type === 'cgroup') {
      for (const opt of opts.split(',')) {
        if ((v1Controllers as readonly string[]).includes(opt) && controllers[opt as V1Controller] === undefined) {
          controllers[opt as V1Controller] = path
        }
      }
    }
  }
  if (Object.keys(controllers).length > 0) return unified ? { version: 1, controllers, unified } : { version: 1, controllers }
  if (unified) return { version: 2, root: unified }
  return { version: 'none' }
}

export interface CgroupProblem {
  name: string
  detail: string
  fix: string
}

const PERIOD_US = 100_000
/** Empty exec cgroups kept per sandbox: enough for an agent's usual handful of concurrent commands. */
const SPARE_EXEC_CGROUPS = 4

/** What the helper joins when it starts a sandbox (cgroup.procs files). */
export interface SandboxCgroupFiles {
  /** The supervisor (and so init and every exec handler it forks) joins these: the v1 resource cgroups. */
  supervisor: string[]
  /** A cgroup2 directory init is cloned straight into (frozen and killed there), when there is a cgroup2 tree. */
  initInto?: string
  /** cgroup.procs files init alone joins otherwise (pure v1: the freezer cgroup). */
  init: string[]
}

/** Where one exec's command goes. */
export interface ExecCgroup {
  name: string
  /** A cgroup2 directory to clone the command straight into (no migration), when there is a cgroup2 tree. */
  cloneInto?: string
  /** cgroup.procs files the command joins right after fork otherwise (pure v1 hosts). */
  procs: string[]
}

/**
 * cgroups of every sandbox, under `<hierarchy>/<name>/<instance>/<sandbox id>`: `<name>` is shared by
 * every tidepool on the host (it holds their common pids ceiling), `<instance>` is this runtime's own,
 * and nothing outside it is ever listed or removed. Resource limits live where the
 * controllers are (v1 hierarchies on a hybrid host). Processes are tracked, frozen and killed in the
 * cgroup2 tree when one is mounted (also on hybrid hosts), where exec cgroups are entered at clone time:
 * a v1 migration waits for an RCU grace period (~10 ms), which an exec must not pay.
 */
export class Cgroups {
  readonly #layout: CgroupLayout
  /** `<name>/<instance>`: the parent of this runtime's sandbox cgroups. */
  readonly #name: string
  /** `<name>` alone, shared with other instances. */
  readonly #base: string
  /** pids.max written on `<base>` (all sandboxes of all instances together), if any. */
  readonly #pidsCeiling: number | undefined
  /** Distinct hierarchy mount points a sandbox has a directory in (v1: per controller mount; v2: one). */
  readonly #hierarchies: string[]
  /** v1 mounts of the resource controllers (the supervisor's cgroups). */
  readonly #resourceHierarchies: string[]
  /** The v1 pids hierarchy, or the v2 root: every process of a sandbox is listed here. */
  readonly #pidsRoot: string | undefined
  /** A cgroup2 tree (v2 root or a hybrid host's unified mount): exec cgroups, cgroup.freeze, cgroup.kill. */
  readonly #unified: string | undefined
  /** Where exec cgroups are made: the cgroup2 tree, else the v1 pids hierarchy. */
  readonly #track: string | undefined
  #parentReady = false
  #execSeq = 0
  /** Empty exec cgroups kept per sandbox for the next commands: a mkdir + rmdir per exec costs kernel work. */
  readonly #spare = new Map<string, string[]>()
  readonly #oomSeen = new Map<string, number>()

  constructor(layout: CgroupLayout, name: string, instance: string, opts: { pidsCeiling?: number } = {}) {
    this.#layout = layout
    this.#base = name
    this.#name = `${name}/${instance}`
    this.#pidsCeiling = opts.pidsCeiling
    if (layout.version === 1) {
      const mounts = (cs: readonly V1Controller[]) => [...new Set(cs.map((c) => layout.controllers[c]).filter((p): p is string => !!p))]
      // With a cgroup2 tree to freeze in, the v1 freezer is not used at all.
      this.#resourceHierarchies = mounts(v1Resources)
      this.#hierarchies = layout.unified ? [...new Set([...this.#resourceHierarchies, layout.unified])] : mounts(v1Controllers)
      this.#pidsRoot = layout.controllers.pids
      this.#unified = layout.unified
    } else if (layout.version === 2) {
      this.#hierarchies = [layout.root]
      this.#resourceHierarchies = []
      this.#pidsRoot = layout.root
      this.#unified = layout.root
    } else {
      this.#hierarchies = []
      this.#resourceHierarchies = []
      this.#pidsRoot = undefined
      this.#unified = undefined
    }
    this.#track = this.#unified ?? this.#pidsRoot
  }

  get version(): 1 | 2 | 'none' {
    return this.#layout.version
  }

  /** The cgroup2 mount where exec cgroups, freezing and kills live, if there is one. */
  get cgroup2Tree(): string | undefined {
    return this.#unified
  }

  /** What is missing for sandboxes, each with a fix; empty when everything is there. */
  problems(): CgroupProblem[] {
    const l = this.#layout
    if (l.version === 'none') {
      return [{ name: 'cgroups', detail: 'no cgroup filesystem is mounted (see /proc/mounts)', fix: 'mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup) or the v1 controllers memory, cpu, cpuacct, pids, freezer' }]
    }
    if (l.version === 1) {
      return v1Controllers
        .filter((c) => !l.controllers[c] && !(c === 'freezer' && l.unified))
        .map((c) => ({ name: `cgroup ${c}`, detail: `cgroup v1 ${c} controller is not mounted`, fix: `mount it: mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}` }))
    }
    const available = readText(join(l.root, 'cgroup.controllers'))?.split(/\s+/) ?? []
    return v2Controllers
      .filter((c) => !available.includes(c))
      .map((c) => ({ name: `cgroup ${c}`, detail: `cgroup v2 controller ${c} is not available at ${l.root} (cgroup.controllers: ${available.join(' ') || 'none'})`, fix: `enable it on the host (kernel config / boot with cgroup_enable=${c}); tidepool enables it in ${l.root}/cgroup.subtree_control itself` }))
  }

  /** Where a controller is mounted (v1; freezing is done in the cgroup2 tree when there is one), or the cgroup2 root (v2). */
  mountOf(controller: string): string | undefined {
    const l = this.#layout
    if (l.version === 1) return controller === 'freezer' && l.unified ? l.unified : l.controllers[controller as V1Controller]
    if (l.version === 2) return l.root
    return undefined
  }

  /** Every cgroup directory of a sandbox (without exec children). */
  sandboxDirs(id: string): string[] {
    return this.#hierarchies.map((h) => join(h, this.#name, id))
  }

  /** Creates the sandbox's cgroups with limits; returns what its supervisor and its init join. */
  create(id: string, limits: ResourceLimits): SandboxCgroupFiles {
    this.#ensureParent()
    for (const d of this.sandboxDirs(id)) mkdirSync(d)
    this.#writeLimits(id, limits, undefined)
    const procs = (h: string) => join(h, this.#name, id, 'cgroup.procs')
    const supervisor = this.#resourceHierarchies.map(procs)
    if (this.#unified) return { supervisor, initInto: join(this.#unified, this.#name, id), init: [] }
    return { supervisor, init: this.#hierarchies.filter((h) => !this.#resourceHierarchies.includes(h)).map(procs) }
  }

  /** Writes new limits into a live sandbox's cgroups. */
  resize(id: string, limits: ResourceLimits): void {
    const current = this.#memoryUsage(id)
    const bytes = limits.memoryMb * 1024 * 1024
    if (current !== undefined && bytes < current) {
      throw new RuntimeError('invalid_request', `memoryMb ${limits.memoryMb} is below what sandbox ${id} uses now (${Math.ceil(current / 1048576)} MiB); free memory inside it or choose a higher limit`)
    }
    this.#writeLimits(id, limits, this.#readMemoryLimit(id))
  }

  /**
   * A fresh child cgroup for one exec, so its whole process tree can be killed as a unit: in the
   * cgroup2 tree, where the command is cloned straight into it; on a pure v1 host in the pids
   * hierarchy, joined after fork together with the sandbox's freezer cgroup.
   */
  createExec(id: string): ExecCgroup {
    if (!this.#track) throw new RuntimeError('runtime_unavailable', 'no cgroup filesystem is mounted')
    const spare = this.#spare.get(id)?.pop()
    if (spare !== undefined) return this.#execCgroup(id, spare)
    for (let attempt = 0; ; attempt++) {
      const name = `x${++this.#execSeq}`
      try {
        mkdirSync(join(this.#track, this.#name, id, name))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 1000) continue
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RuntimeError('not_found', `sandbox ${id} has no cgroups (it is gone)`)
        throw err
      }
      return this.#execCgroup(id, name)
    }
  }

  #execCgroup(id: string, name: string): ExecCgroup {
    const dir = join(this.#track!, this.#name, id, name)
    if (this.#unified) return { name, cloneInto: dir, procs: [] }
    const freezer = this.#hierarchies.filter((h) => !this.#resourceHierarchies.includes(h))
    return { name, procs: [join(dir, 'cgroup.procs'), ...freezer.map((h) => join(h, this.#name, id, 'cgroup.procs'))] }
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
    return this.#track ? subdirs(join(this.#track, this.#name, id)).filter((n) => /^x[0-9]+$/.test(n)) : []
  }

  /** True when no process is left in the exec's cgroup. */
  execEmpty(id: string, name: string): boolean {
    return this.#track === undefined || listProcs(join(this.#track, this.#name, id, name)).length === 0
  }

  /**
   * SIGKILLs every process of one exec, waits (bounded) until they are gone, and removes its cgroup, so
   * a command that was about to join it fails to start instead of escaping the kill.
   */
  async killExec(id: string, name: string, timeoutMs = 10_000): Promise<boolean> {
    if (!this.#track) return true
    const kill = this.#unified ? join(this.#unified, this.#name, id, name) : undefined
    const deadline = Date.now() + timeoutMs
    const dir = join(this.#track, this.#name, id, name)
    // v1 freezer: a frozen task does not die of SIGKILL until thawed. Thawing the sandbox would wake
    // all of it, so the doomed processes alone move to the (never frozen) root of the freezer tree.
    // (cgroup2's freezer lets SIGKILL through.)
    const freezerRoot = this.#layout.version === 1 && !this.#unified ? this.#layout.controllers.freezer : undefined
    const release = freezerRoot && this.state(id) === 'frozen' ? () => moveAll(listProcs(dir), join(freezerRoot, 'cgroup.procs')) : undefined
    for (;;) {
      const empty = await killAndWait(kill, [dir], Math.max(0, deadline - Date.now()), release)
      if (!empty) return false
      if (this.#execDirs(id, name).every((d) => tryRmdir(d))) return true
      if (Date.now() > deadline) return false
    }
  }

  removeExec(id: string, name: string): void {
    for (const d of this.#execDirs(id, name)) tryRmdir(d)
  }

  /**
   * SIGKILLs every process of the sandbox (thawing it so frozen ones die) and waits until none is left:
   * init and commands, and on v1 hosts its supervisor and exec handlers too (they sit in its v1 cgroups).
   */
  async killAll(id: string, timeoutMs = 5000): Promise<boolean> {
    this.#spare.delete(id)
    this.#oomSeen.delete(id)
    const dirs = [...new Set([this.#pidsRoot, this.#track].filter((r): r is string => !!r).map((r) => join(r, this.#name, id)))].filter((d) => existsSync(d))
    if (dirs.length === 0) return true
    const kill = this.#unified ? join(this.#unified, this.#name, id) : undefined
    const thaw = () => this.#setFrozen(id, false)
    return killAndWait(kill, dirs, timeoutMs, thaw)
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
    const deadline = Date.now() + timeoutMs
    for (let delay = 1; this.state(id) !== 'frozen'; delay = Math.min(delay * 2, 50)) {
      if (Date.now() > deadline) {
        this.#setFrozen(id, false)
        throw new RuntimeError('internal', `sandbox ${id} did not freeze within ${timeoutMs} ms (a process may be stuck in uninterruptible I/O); it was thawed again, retry later`)
      }
      await sleep(delay)
    }
  }

  thaw(id: string): void {
    this.#setFrozen(id, false)
  }

  /** 'frozen' (also while freezing), 'thawed', or undefined when the cgroup is gone. */
  state(id: string): 'frozen' | 'thawed' | undefined {
    if (this.#unified) {
      const dir = join(this.#unified, this.#name, id)
      const events = readText(join(dir, 'cgroup.events'))
      if (events === undefined) return undefined
      return keyed(events, 'frozen') === 1 ? 'frozen' : readText(join(dir, 'cgroup.freeze'))?.trim() === '1' ? 'frozen' : 'thawed'
    }
    if (this.#layout.version === 1) {
      const s = readText(this.#v1(id, 'freezer', 'freezer.state'))
      return s === undefined ? undefined : s.trim() === 'THAWED' ? 'thawed' : 'frozen'
    }
    return undefined
  }

  /** How many times the kernel's OOM killer struck in this sandbox. */
  oomKills(id: string): number {
    const l = this.#layout
    let n = 0
    if (l.version === 1) n = keyed(readText(this.#v1(id, 'memory', 'memory.oom_control')) ?? '', 'oom_kill') ?? 0
    else if (l.version === 2) n = keyed(readText(join(l.root, this.#name, id, 'memory.events')) ?? '', 'oom_kill') ?? 0
    this.#oomSeen.set(id, n)
    return n
  }

  /** The OOM kill count last read (by the last command's end, or stats), without reading it again. */
  lastOomKills(id: string): number {
    return this.#oomSeen.get(id) ?? this.oomKills(id)
  }

  stats(id: string): SandboxStats {
    const l = this.#layout
    if (l.version === 1) {
      const mem = (f: string) => readNumber(this.#v1(id, 'memory', f))
      const usage = mem('memory.usage_in_bytes')
      if (usage === undefined) throw new RuntimeError('not_found', `sandbox ${id} has no cgroups (it is gone)`)
      return {
        cpuSeconds: (readNumber(this.#v1(id, 'cpuacct', 'cpuacct.usage')) ?? 0) / 1e9,
        memoryBytes: usage,
        memoryPeakBytes: mem('memory.max_usage_in_bytes') ?? usage,
        memoryLimitBytes: mem('memory.limit_in_bytes') ?? 0,
        pids: readNumber(this.#v1(id, 'pids', 'pids.current')) ?? 0,
        pidsLimit: readNumber(this.#v1(id, 'pids', 'pids.max')) ?? Number.MAX_SAFE_INTEGER,
        oomKills: this.oomKills(id),
      }
    }
    if (l.version === 2) {
      const f = (name: string) => join(l.root, this.#name, id, name)
      const usage = readNumber(f('memory.current'))
      if (usage === undefined) throw new RuntimeError('not_found', `sandbox ${id} has no cgroups (it is gone)`)
      return {
        cpuSeconds: (keyed(readText(f('cpu.stat')) ?? '', 'usage_usec') ?? 0) / 1e6,
        memoryBytes: usage,
        memoryPeakBytes: readNumber(f('memory.peak')) ?? usage,
        memoryLimitBytes: readNumber(f('memory.max')) ?? Number.MAX_SAFE_INTEGER,
        pids: readNumber(f('pids.current')) ?? 0,
        pidsLimit: readNumber(f('pids.max')) ?? Number.MAX_SAFE_INTEGER,
        oomKills: this.oomKills(id),
      }
    }
    throw new RuntimeError('runtime_unavailable', 'no cgroup filesystem is mounted')
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

  /** The parent of this runtime's sandbox cgroups, relative to each hierarchy (`<name>/<instance>`). */
  get parent(): string {
    return this.#name
  }

  #execDirs(id: string, name: string): string[] {
    return this.#track ? [join(this.#track, this.#name, id, name)] : []
  }

  #v1(id: string, c: V1Controller, file: string): string {
    const l = this.#layout as { controllers: Partial<Record<V1Controller, string>> }
    return join(l.controllers[c] ?? '/nonexistent', this.#name, id, file)
  }

  #ensureParent(): void {
    if (this.#parentReady) return
    const l = this.#layout
    if (l.version === 'none') throw new RuntimeError('runtime_unavailable', 'no cgroup filesystem is mounted; mount cgroup2 at /sys/fs/cgroup or the v1 controllers')
    const problems = this.problems()
    if (problems.length > 0) throw new RuntimeError('runtime_unavailable', `${problems[0]!.detail}; ${problems[0]!.fix}`)
    if (l.version === 2) enableControllers(l.root)
    for (const h of this.#hierarchies) mkdirSync(join(h, this.#name), { recursive: true })
    if (l.version === 2) {
      enableControllers(join(l.root, this.#base))
      enableControllers(join(l.root, this.#name))
    }
    this.#writePidsCeiling()
    this.#parentReady = true
  }

  /**
   * The host's headroom: every sandbox of every instance together stays below this many tasks (the
   * kernel enforces pids.max hierarchically), so a fork bomb spread over sandboxes cannot starve host shells.
   */
  #writePidsCeiling(): void {
    if (this.#pidsCeiling === undefined || !this.#pidsRoot) return
    const file = join(this.#pidsRoot, this.#base, 'pids.max')
    try {
      writeFileSync(file, String(this.#pidsCeiling))
    } catch (err) {
      throw new RuntimeError('runtime_unavailable', `could not write the pids ceiling ${this.#pidsCeiling} into ${file}: ${messageOf(err)}`, { cause: err })
    }
  }

  #writeLimits(id: string, limits: ResourceLimits, currentMemory: number | undefined): void {
    const l = this.#layout
    const bytes = String(limits.memoryMb * 1024 * 1024)
    const quota = Math.max(1000, Math.round(limits.cpu * PERIOD_US))
    try {
      if (l.version === 1) {
        const limit = this.#v1(id, 'memory', 'memory.limit_in_bytes')
        const memsw = this.#v1(id, 'memory', 'memory.memsw.limit_in_bytes')
        // The kernel keeps limit <= memsw limit: raise memsw first, lower the limit first.
        const raising = currentMemory !== undefined && Number(bytes) >= currentMemory
        const hasMemsw = existsSync(memsw)
        if (raising && hasMemsw) writeFileSync(memsw, bytes)
        writeFileSync(limit, bytes)
        if (!raising && hasMemsw) writeFileSync(memsw, bytes)
        writeFileSync(this.#v1(id, 'cpu', 'cpu.cfs_quota_us'), String(quota))
        writeFileSync(this.#v1(id, 'pids', 'pids.max'), String(limits.pids))
      } else if (l.version === 2) {
        const dir = join(l.root, this.#name, id)
        writeFileSync(join(dir, 'memory.max'), bytes)
        if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0')
        writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`)
        writeFileSync(join(dir, 'pids.max'), String(limits.pids))
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EBUSY') throw new RuntimeError('invalid_request', `memoryMb ${limits.memoryMb} is below what sandbox ${id} uses now; free memory inside it or choose a higher limit`)
      if (code === 'ENOENT') throw new RuntimeError('not_found', `sandbox ${id} has no cgroups (it is gone)`)
      throw new RuntimeError('internal', `could not write cgroup limits of sandbox ${id}: ${messageOf(err)}`, { cause: err })
    }
  }

  #memoryUsage(id: string): number | undefined {
    const l = this.#layout
    if (l.version === 1) return readNumber(this.#v1(id, 'memory', 'memory.usage_in_bytes'))
    if (l.version === 2) return readNumber(join(l.root, this.#name, id, 'memory.current'))
    return undefined
  }

  #readMemoryLimit(id: string): number | undefined {
    const l = this.#layout
    if (l.version === 1) return readNumber(this.#v1(id, 'memory', 'memory.limit_in_bytes'))
    if (l.version === 2) return readNumber(join(l.root, this.#name, id, 'memory.max'))
    return undefined
  }

  #setFrozen(id: string, frozen: boolean): void {
    const l = this.#layout
    try {
      if (this.#unified) writeFileSync(join(this.#unified, this.#name, id, 'cgroup.freeze'), frozen ? '1' : '0')
      else if (l.version === 1) writeFileSync(this.#v1(id, 'freezer', 'freezer.state'), frozen ? 'FROZEN' : 'THAWED')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (frozen) throw new RuntimeError('not_found', `sandbox ${id} has no cgroups (it is gone)`)
        return
      }
      throw err
    }
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
    throw new RuntimeError('runtime_unavailable', `could not enable cgroup controllers ${missing.join(', ')} in ${dir}/cgroup.subtree_control: ${messageOf(err)}; processes directly in that cgroup block it (move them to a leaf cgroup) or delegate it to tidepool`, { cause: err })
  }
}

/** SIGKILL via cgroup.kill where the kernel has it, else (and as a backstop) pid by pid, until none is left. */
async function killAndWait(killDir: string | undefined, dirs: string[], timeoutMs: number, afterSignal?: () => void): Promise<boolean> {
  const killFile = killDir ? join(killDir, 'cgroup.kill') : undefined
  let useKillFile = killFile !== undefined && existsSync(killFile)
  const deadline = Date.now() + timeoutMs
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    const pids = dirs.flatMap((d) => listProcsDeep(d))
    if (pids.length === 0) return true
    if (useKillFile) {
      try {
        writeFileSync(killFile!, '1')
      } catch {
        useKillFile = false
      }
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    afterSignal?.()
    if (Date.now() > deadline) return false
    await sleep(delay)
  }
}

function moveAll(pids: number[], procsFile: string): void {
  for (const pid of pids) {
    try {
      writeFileSync(procsFile, String(pid))
    } catch {
      // exited meanwhile
    }
  }
}

function listProcs(dir: string): number[] {
  const text = readText(join(dir, 'cgroup.procs'))
  if (!text) return []
  return text.split('\n').filter(Boolean).map(Number)
}

function listProcsDeep(dir: string): number[] {
  return [...listProcs(dir), ...subdirs(dir).flatMap((c) => listProcsDeep(join(dir, c)))]
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  } catch {
    return []
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
  }
}

async function rmdirRetry(dir: string): Promise<void> {
  for (let delay = 1; ; delay *= 2) {
    try {
      rmdirSync(dir)
      return
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      // EBUSY: the last task is still on its way out.
      if (code !== 'EBUSY' || delay > 1000) {
        throw new RuntimeError('internal', `could not remove cgroup ${dir}: ${messageOf(err)}; kill the processes listed in its cgroup.procs and rmdir it`, { cause: err })
      }
      await sleep(delay)
    }
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** A number file; 'max' (no limit) reads as MAX_SAFE_INTEGER. */
function readNumber(file: string): number | undefined {
  const t = readText(file)?.trim()
  if (t === undefined || t === '') return undefined
  if (t === 'max') return Number.MAX_SAFE_INTEGER
  const n = Number(t)
  return Number.isFinite(n) ? n : undefined
}

/** `key value` lines (memory.events, cpu.stat, memory.oom_control). */
export function keyed(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ')
    if (k === key && v !== undefined) return Number(v)
  }
  return undefined
}
