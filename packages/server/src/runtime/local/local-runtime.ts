/** @module runtime/local/local-runtime — LocalRuntime: sandboxes as namespaces + cgroups + overlayfs on this Linux host. */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../../core/log.js'
import { emptyEnv } from '../../core/child-env.js'
import type {
  AdoptedExec,
  ExecHandle,
  ExecRequest,
  HotMount,
  PreflightCheck,
  ResourceLimits,
  Runtime,
  RuntimeRef,
  RuntimeStatus,
  SandboxSpec,
  SandboxStats,
} from '../runtime.js'
import { Cgroups, detectCgroups } from './cgroups.js'
import { DiskPool } from './disk-pool.js'
import { createArgv } from './helper-args.js'
import { hotBind, hotUnbind } from './hot-mount.js'
import { pidsCeiling, readHostTasks } from './host-limits.js'
import { instanceIdOf } from './instance.js'
import { FALLBACK_SOCKET_DIR, execSocketPath } from './exec-socket.js'
import { adoptDetached, killOrphan } from './adopted-exec.js'
import { ProcessWatcher, supervisorOf } from './liveness.js'
import { execFiles, startExec } from './local-exec.js'
import type { HostLayoutEntry } from './mounts.js'
import { checkHostPath, checkHotMount, checkHotMountTarget, planMounts, sandboxPaths } from './mounts.js'
import { runPreflight } from './preflight.js'
import { isAlive, isReaped, isRunning, readStartTime } from './proc.js'
import { RuntimeError, messageOf } from './runtime-error.js'
import { ensureHostTemplate, readHostLayout } from './template-root.js'

/** Host uid/gid that is root inside every sandbox; the sandbox owns uids [UID_BASE, UID_BASE + ID_COUNT). */
export const UID_BASE = 100_000
export const ID_COUNT = 65_536

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/

/** The part of the Logger (core/log.ts) the runtime writes to. */
export type RuntimeLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

export interface LocalRuntimeOptions {
  /** Where sandboxes' writable layers and the host template live, e.g. $TIDEPOOL_HOME/runtime. */
  dataDir: string
  /**
   * Parent cgroup of every sandbox, in each hierarchy (default 'tidepool'); this runtime's sandboxes sit
   * in `<cgroupName>/<instance id>/`, the instance id being made once per dataDir (its `instance` file).
   */
  cgroupName?: string
  /** Path of the compiled native/tidepool-helper. */
  helperPath?: string
  /**
   * Use the cgroup2 tree of a hybrid host for exec cgroups, freezing and killing (default: when mounted).
   * false keeps sandboxes on the v1 hierarchies alone (each exec then migrates into its cgroups, ~10 ms
   * slower); for hosts where something else owns the cgroup2 mount. A pure cgroup2 host ignores it.
   */
  cgroup2?: boolean
  logger?: RuntimeLogger
  /** Disk limits of sandbox writable layers (MiB); see disk-pool.ts. */
  disk?: DiskLimits
}

export interface DiskLimits {
  /** Size of the sparse pool image all sandboxes' writable layers share (default 20480). */
  poolMb?: number
  /** The largest resources.diskMb one sandbox may have (default 10240, at most poolMb). */
  maxMb?: number
  /** resources.diskMb of a spec without one (default 2048). */
  defaultMb?: number
}

const silent: RuntimeLogger = { debug() {}, info() {}, warn() {}, error() {} }

/** Default location of the helper, the same from src/ and dist/: <package>/native/build/tidepool-helper. */
export const defaultHelperPath = fileURLToPath(new URL('../../../native/build/tidepool-helper', import.meta.url))

/**
 * Sandboxes on this host. Each is an init process (PID 1 of its own mount, pid, net, ipc, uts, cgroup
 * and user namespaces; root inside is uid 100000 outside) over an overlayfs root, in its own cgroups.
 * The privileged work happens in native/tidepool-helper; this class decides paths and limits, keeps
 * the cgroups, and never falls back to running anything unisolated.
 */
export class LocalRuntime implements Runtime {
  readonly kind = 'local'
  readonly #dataDir: string
  readonly #cgroupName: string
  readonly #helperPath: string
  readonly #log: RuntimeLogger
  readonly #cgroups: Cgroups
  readonly #instance: string
  /** The most tasks one sandbox (and all together) may have: half of what the kernel allows. */
  readonly #pidsBound: number
  readonly #pool: DiskPool
  readonly #disk: Required<DiskLimits>
  #layout: HostLayoutEntry[] | undefined
  #templateRoot: string | undefined
  /** Resolves when the init's supervisor (our child) has exited and been reaped, per sandbox we started. */
  readonly #supervisors = new Map<string, Promise<void>>()
  /** The last bind/unbind per sandbox: they run one after another (they share its record of binds). */
  readonly #mountQueue = new Map<string, Promise<unknown>>()
  /** Per sandbox: exec cgroups with a live handle in this process (what adopt must leave alone). */
  readonly #liveExecs = new Map<string, Set<string>>()
  /** Pidfds (in a helper child) on each watched sandbox's init and supervisor. */
  readonly #watcher: ProcessWatcher

  constructor(opts: LocalRuntimeOptions) {
    if (!isAbsolute(opts.dataDir)) throw new RuntimeError('invalid_request', `dataDir must be absolute (got ${JSON.stringify(opts.dataDir)})`)
    this.#dataDir = checkHostPath(opts.dataDir.replace(/(?<!\/)\/+$/, ''), 'runtime dataDir')
    this.#cgroupName = opts.cgroupName ?? 'tidepool'
    if (!/^[A-Za-z0-9_.-]+$/.test(this.#cgroupName)) throw new RuntimeError('invalid_request', `cgroupName must be one path segment of [A-Za-z0-9_.-] (got ${JSON.stringify(this.#cgroupName)})`)
    this.#helperPath = opts.helperPath ?? defaultHelperPath
    this.#log = opts.logger ?? silent
    const layout = detectCgroups(readText('/proc/mounts') ?? '')
    if (opts.cgroup2 === false && layout.version === 1) delete layout.unified
    this.#instance = instanceIdOf(this.#dataDir)
    this.#pidsBound = pidsCeiling(readHostTasks())
    this.#cgroups = new Cgroups(layout, this.#cgroupName, this.#instance, { pidsCeiling: this.#pidsBound })
    const poolMb = opts.disk?.poolMb ?? 20_480
    this.#disk = { poolMb, maxMb: Math.min(opts.disk?.maxMb ?? 10_240, poolMb), defaultMb: Math.min(opts.disk?.defaultMb ?? 2048, poolMb) }
    this.#pool = new DiskPool({ dataDir: this.#dataDir, instance: this.#instance, sizeMb: poolMb, helperPath: this.#helperPath })
    this.#watcher = new ProcessWatcher(this.#helperPath, (err) => this.#log.error({ err: err.message }, 'sandbox watcher'))
  }

  /** This runtime's instance id (kept in `<dataDir>/instance`), part of every cgroup path it makes. */
  get instance(): string {
    return this.#instance
  }

  /** Where this runtime's sandbox cgroups live in each hierarchy: `<cgroupName>/<instance>`. */
  get cgroupParent(): string {
    return this.#cgroups.parent
  }

  /** The largest resources.pids a sandbox may have on this host (the same bound caps all of them together). */
  get pidsBound(): number {
    return this.#pidsBound
  }

  async preflight(): Promise<PreflightCheck[]> {
    return [...runPreflight({ dataDir: this.#dataDir, helperPath: this.#helperPath, cgroups: this.#cgroups }), this.#pool.preflight()]
  }

  async start(spec: SandboxSpec): Promise<RuntimeRef> {
    checkId(spec.id)
    checkLimits(spec.resources, this.#pidsBound)
    const diskMb = this.#diskMb(spec.resources)
    this.#ready()
    await this.#pool.ensure()
    const paths = sandboxPaths(this.#dataDir, spec.id)
    if (existsSync(paths.dir) || this.#cgroups.sandboxDirs(spec.id).some((d) => existsSync(d))) {
      throw new RuntimeError('invalid_request', `sandbox ${spec.id} already exists on this host; destroy it first or use a new id`)
    }
    const plan = planMounts({ spec, paths, hostTemplateRoot: this.#templateRoot!, hostLayout: this.#layout! })
    if (spec.template.rootfs !== 'host' && !existsSync(spec.template.rootfs)) {
      throw new RuntimeError('invalid_request', `template ${spec.template.name}: rootfs ${spec.template.rootfs} does not exist; build the template again`)
    }
    try {
      // The helper makes paths.dir a btrfs subvolume limited to diskMb, and the layer's dirs in it.
      const cgroups = this.#cgroups.create(spec.id, spec.resources)
      const execSocket = execSocketPath(paths.dir)
      if (execSocket.startsWith(`${FALLBACK_SOCKET_DIR}/`)) mkdirSync(FALLBACK_SOCKET_DIR, { recursive: true, mode: 0o700 })
      const argv = createArgv({ id: spec.id, plan, ...(cgroups.initInto ? { cgroupInto: cgroups.initInto } : {}), cgroupProcs: cgroups.init, joinProcs: cgroups.supervisor, execSocket, uidBase: UID_BASE, idCount: ID_COUNT, disk: { subvolume: paths.dir, bytes: diskMb * 1_048_576 } })
      const pid = await this.#spawnInit(spec.id, argv)
      const startTime = readStartTime(pid)
      if (startTime === undefined) throw new RuntimeError('internal', `sandbox ${spec.id} init (pid ${pid}) exited right after it started`)
      // So a destroy by id alone (after a control-plane crash) still finds the init.
      writeFileSync(join(paths.dir, 'init'), `${pid} ${startTime}\n`)
      this.#log.debug({ id: spec.id, pid }, 'sandbox started')
      return { id: spec.id, pid, startTime }
    } catch (err) {
      await this.destroy(spec.id).catch((e: unknown) => this.#log.warn({ id: spec.id, err: messageOf(e) }, 'cleanup after failed start'))
      if (err instanceof RuntimeError) throw err
      throw new RuntimeError('internal', `could not start sandbox ${spec.id}: ${messageOf(err)}`, { cause: err })
    }
  }

  exec(ref: RuntimeRef, req: ExecRequest): ExecHandle {
    const dir = sandboxPaths(this.#dataDir, ref.id).dir
    return startExec({ cgroups: this.#cgroups, socketPath: execSocketPath(dir), execsDir: join(dir, 'execs'), live: this.#liveSet(ref.id) }, ref, req)
  }

  /**
   * Every exec cgroup of the sandbox that no handle of this process owns: a detached command (it has
   * a tag file) comes back as a handle its handler still times out; a foreground one lost its caller
   * and is killed; an empty leftover is removed.
   */
  async adopt(ref: RuntimeRef): Promise<AdoptedExec[]> {
    checkId(ref.id)
    if (!isRunning(ref.pid, ref.startTime)) return []
    const live = this.#liveSet(ref.id)
    const execsDir = join(sandboxPaths(this.#dataDir, ref.id).dir, 'execs')
    const names = new Set(this.#cgroups.execNames(ref.id))
    for (const f of listDir(execsDir)) if (/^x[0-9]+\.tag$/.test(f)) names.add(f.slice(0, -4))
    const found: AdoptedExec[] = []
    for (const name of [...names].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))) {
      if (live.has(name)) continue
      const files = execFiles(execsDir, name)
      const tag = readText(files.tag)
      if (tag !== undefined) {
        live.add(name)
        found.push({ tag, detached: true, handle: adoptDetached({ cgroups: this.#cgroups, ref, cgroup: name, files, onEnd: () => live.delete(name) }) })
      } else if (!this.#cgroups.execEmpty(ref.id, name)) {
        found.push({ detached: false, handle: await killOrphan(this.#cgroups, ref, name) })
      } else {
        this.#cgroups.removeExec(ref.id, name)
      }
    }
    return found
  }

  /** onLost fires when the sandbox's init or its supervisor exits without destroy (pidfds, not polling). */
  watch(ref: RuntimeRef, onLost: (detail: string) => void): void {
    checkId(ref.id)
    const keys = [`${ref.id}:init`, `${ref.id}:sup`]
    for (const k of keys) this.#watcher.unwatch(k)
    let fired = false
    const lost = (detail: string) => {
      if (fired) return
      fired = true
      for (const k of keys) this.#watcher.unwatch(k)
      onLost(detail)
    }
    const supervisor = supervisorOf(ref)
    if (!isRunning(ref.pid, ref.startTime)) return queueMicrotask(() => lost(`its init (pid ${ref.pid}) exited`))
    if (!supervisor) return queueMicrotask(() => lost(`its supervisor exited (init pid ${ref.pid} has no tidepool supervisor as its parent)`))
    this.#watcher.watch(keys[0]!, ref, () => lost(`its init (pid ${ref.pid}) exited`))
    // Init gone too: the supervisor ended because init did (it reaps init, then exits). Say so.
    this.#watcher.watch(keys[1]!, supervisor, () => lost(isAlive(ref.pid, ref.startTime) ? `its supervisor (pid ${supervisor.pid}) exited` : `its init (pid ${ref.pid}) exited`))
  }

  /** Ends the watcher child (tests; a process that ends takes it along anyway). */
  close(): void {
    this.#watcher.close()
  }

  #liveSet(id: string): Set<string> {
    let set = this.#liveExecs.get(id)
    if (!set) this.#liveExecs.set(id, (set = new Set()))
    return set
  }

  async pause(ref: RuntimeRef): Promise<void> {
    this.#mustBeAlive(ref)
    await this.#cgroups.freeze(ref.id)
  }

  async resume(ref: RuntimeRef): Promise<void> {
    this.#mustBeAlive(ref)
    this.#cgroups.thaw(ref.id)
  }

  async resize(ref: RuntimeRef, limits: ResourceLimits): Promise<void> {
    checkLimits(limits, this.#pidsBound)
    const diskMb = limits.diskMb === undefined ? undefined : this.#diskMb(limits)
    this.#mustBeAlive(ref)
    const dir = sandboxPaths(this.#dataDir, ref.id).dir
    // Disk first: it can still refuse (below what the sandbox holds) before any cgroup limit changed.
    if (diskMb !== undefined && this.#pool.usage(dir)?.limitBytes !== diskMb * 1_048_576) await this.#pool.setLimit(ref.id, dir, diskMb * 1_048_576)
    this.#cgroups.resize(ref.id, limits)
  }

  async stats(ref: RuntimeRef): Promise<SandboxStats> {
    this.#mustBeAlive(ref)
    const disk = this.#pool.usage(sandboxPaths(this.#dataDir, ref.id).dir)
    return { ...this.#cgroups.stats(ref.id), ...(disk ? { diskBytes: disk.bytes, diskLimitBytes: disk.limitBytes } : {}) }
  }

  /** resources.diskMb (or the default), checked against runtime.disk.maxMb. */
  #diskMb(l: ResourceLimits): number {
    const mb = l.diskMb ?? this.#disk.defaultMb
    if (!(Number.isInteger(mb) && mb >= 16)) throw new RuntimeError('invalid_request', `resources.diskMb must be an integer >= 16 (got ${mb})`)
    if (mb > this.#disk.maxMb) {
      throw new RuntimeError('invalid_request', `resources.diskMb must be at most ${this.#disk.maxMb} on this host (runtime.disk.maxMb) (got ${mb}); ask for less, or have an admin raise runtime.disk.maxMb (and runtime.disk.poolMb)`)
    }
    return mb
  }

  async inspect(ref: RuntimeRef): Promise<RuntimeStatus> {
    if (!isRunning(ref.pid, ref.startTime)) return 'gone'
    // Without its supervisor a sandbox serves no exec and nothing reaps its init: as good as gone.
    if (!supervisorOf(ref)) return 'gone'
    return this.#cgroups.state(ref.id) === 'frozen' ? 'paused' : 'running'
  }

  /**
   * Mounts host directory `source` at `target` in this sandbox's own mount namespace only (the host
   * and other sandboxes never see it), nosuid and nodev, read-only on request. The sandbox cannot
   * unmount it (no capability over its mount namespace, and seccomp). Inside, the directory keeps its
   * host owner and mode: host uids outside the sandbox's range show as nobody, so the sandbox's
   * user reaches it through the "other" permission bits.
   */
  async bindMount(ref: RuntimeRef, mount: HotMount): Promise<void> {
    checkId(ref.id)
    const m = checkHotMount(mount)
    this.#mustBeAlive(ref)
    await this.#serialMount(ref.id, () => hotBind({ helperPath: this.#helperPath, sandboxDir: sandboxPaths(this.#dataDir, ref.id).dir }, ref, m))
  }

  /** Detaches what bindMount put at `target`; nothing there, or a sandbox that is gone, is fine. */
  async unbindMount(ref: RuntimeRef, target: string): Promise<void> {
    checkId(ref.id)
    const t = checkHotMountTarget(target)
    if (!isRunning(ref.pid, ref.startTime)) return // its mounts went with its mount namespace
    await this.#serialMount(ref.id, async () => {
      try {
        await hotUnbind({ helperPath: this.#helperPath, sandboxDir: sandboxPaths(this.#dataDir, ref.id).dir }, ref, t)
      } catch (err) {
        if (err instanceof RuntimeError && err.code === 'not_found') return // gone meanwhile: so is the mount
        throw err
      }
    })
  }

  #serialMount(id: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.#mountQueue.get(id) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.#mountQueue.set(id, next)
    const clear = () => {
      if (this.#mountQueue.get(id) === next) this.#mountQueue.delete(id)
    }
    next.then(clear, clear)
    return next
  }

  async destroy(id: string, ref?: RuntimeRef): Promise<void> {
    if (!ID_RE.test(id)) return // nothing of ours can carry such a name
    await this.#pool.adopt() // after a reboot: its subvolume is in the pool, which must be mounted to remove it
    // An end we cause is no loss.
    this.#watcher.unwatch(`${id}:init`)
    this.#watcher.unwatch(`${id}:sup`)
    this.#liveExecs.delete(id)
    const paths = sandboxPaths(this.#dataDir, id)
    const init = ref && ref.id === id ? ref : readInitFile(join(paths.dir, 'init'))
    const supervisorPid = init ? supervisorOf(init)?.pid : undefined
    // Killing PID 1 of a pid namespace takes every process in it along.
    if (init && isAlive(init.pid, init.startTime)) {
      try {
        process.kill(init.pid, 'SIGKILL')
      } catch {
        // gone meanwhile
      }
    }
    // The supervisor reaps init, and it sits in the sandbox's v1 cgroups: let it do that before the kill
    // below ends it too (an init nobody reaps stays a zombie on hosts whose PID 1 does not reap).
    if (init) {
      this.#cgroups.thaw(id) // a v1-frozen init dies only once thawed
      for (let delay = 1, waited = 0; !isReaped(init.pid, init.startTime) && waited < 5000; waited += delay, delay = Math.min(delay * 2, 50)) await sleep(delay)
    }
    // Exec handlers are the supervisor's children in the host pid namespace: end them while the supervisor
    // still lives to reap them, or they stay zombies of a host PID 1 that may never reap.
    if (supervisorPid !== undefined) await endChildren(supervisorPid)
    // Everything in the sandbox's cgroups, including its supervisor and exec handlers (host pid namespace).
    if (!(await this.#cgroups.killAll(id))) {
      throw new RuntimeError('internal', `processes of sandbox ${id} survived SIGKILL for 5 s (stuck in uninterruptible I/O?); retry the destroy`)
    }
    // An init leaves its cgroups before it is done dying (it waits for its namespace to empty): wait for
    // it, and for its supervisor to be reaped, so "destroyed" means no process is left at all.
    const supervisor = this.#supervisors.get(id)
    if (supervisor) await Promise.race([supervisor, sleep(5000)])
    if (init) {
      for (let delay = 1, waited = 0; isAlive(init.pid, init.startTime) && waited < 5000; waited += delay, delay = Math.min(delay * 2, 50)) await sleep(delay)
      if (isAlive(init.pid, init.startTime)) throw new RuntimeError('internal', `init of sandbox ${id} (pid ${init.pid}) survived SIGKILL for 5 s; retry the destroy`)
    }
    await this.#cgroups.remove(id)
    await rm(execSocketPath(paths.dir), { force: true }) // outside the sandbox's dir when its path was too long
    // A subvolume goes like a directory (its last rmdir deletes it); the kernel then drops its qgroup.
    await rm(paths.dir, { recursive: true, force: true, maxRetries: 3 })
  }

  async list(): Promise<string[]> {
    await this.#pool.adopt()
    const ids = new Set(this.#cgroups.list())
    try {
      for (const name of readdirSync(join(this.#dataDir, 'sandboxes'))) ids.add(name)
    } catch {
      // no sandbox yet
    }
    return [...ids].filter((id) => ID_RE.test(id)).sort()
  }

  /**
   * Removes what this runtime keeps on the host between sandboxes: its (empty) parent cgroups (and the
   * shared `<cgroupName>` when no instance is left), and its disk pool (unmounted, image deleted) when
   * no sandbox is in it; for tests, uninstall and a clean stop. Sandboxes must be destroyed first.
   */
  async removeCgroupParents(): Promise<void> {
    this.#cgroups.removeParents()
    await this.#pool.release()
  }

  /** Fails with runtime_unavailable naming what is missing; builds the host template once. */
  #ready(): void {
    if (this.#templateRoot) return
    const missing = runPreflight({ dataDir: this.#dataDir, helperPath: this.#helperPath, cgroups: this.#cgroups }).filter((c) => !c.ok)
    if (missing.length > 0) {
      throw new RuntimeError('runtime_unavailable', `local runtime unavailable: ${missing.map((c) => `${c.name}: ${c.detail} (fix: ${c.fix})`).join('; ')}`)
    }
    mkdirSync(this.#dataDir, { recursive: true, mode: 0o700 })
    this.#layout = readHostLayout()
    this.#templateRoot = ensureHostTemplate(this.#dataDir, UID_BASE, this.#layout)
  }

  #mustBeAlive(ref: RuntimeRef): void {
    if (!isRunning(ref.pid, ref.startTime)) throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its init, pid ${ref.pid}, is gone)`)
  }

  /** Runs `helper create`; resolves with init's host pid once it is ready for exec. */
  #spawnInit(id: string, argv: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      // An empty env: init is visible inside, and must not carry the control plane's environment.
      const child = spawn(this.#helperPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: emptyEnv(), detached: true })
      let out = ''
      let err = ''
      let settled = false
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      void exited.then(() => {
        if (this.#supervisors.get(id) === exited) this.#supervisors.delete(id)
      })
      const settle = (fn: () => void) => {
        if (settled) return
        settled = true
        fn()
      }
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8')
        const nl = out.indexOf('\n')
        if (nl < 0) return
        const pid = Number(out.slice(0, nl))
        if (Number.isInteger(pid) && pid > 0) this.#supervisors.set(id, exited)
        settle(() => (Number.isInteger(pid) && pid > 0 ? resolve(pid) : reject(new RuntimeError('internal', `tidepool-helper printed ${JSON.stringify(out.slice(0, nl))} instead of a pid`))))
      })
      child.stderr.on('data', (c: Buffer) => {
        if (err.length < 4096) err += c.toString('utf8')
      })
      child.once('error', (e) => settle(() => reject(new RuntimeError('runtime_unavailable', `could not run ${this.#helperPath}: ${e.message}; run \`npm run build\` to compile it`, { cause: e }))))
      child.once('close', (code, signal) => {
        settle(() => reject(new RuntimeError('internal', `could not start sandbox ${id}: ${err.trim() || `tidepool-helper exited with ${signal ?? code}`}`)))
        // After "ready" the helper stays as init's supervisor and exits with it (reaping it).
        if (settled) this.#log.debug({ id, code, signal }, 'sandbox init exited')
      })
      child.unref()
    })
  }
}

function checkId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new RuntimeError('invalid_request', `sandbox id must be 1-63 characters of [A-Za-z0-9_-] starting with a letter or digit (got ${JSON.stringify(id)})`)
  }
}

function checkLimits(l: ResourceLimits, pidsBound: number): void {
  if (!(Number.isFinite(l.cpu) && l.cpu > 0)) throw new RuntimeError('invalid_request', `resources.cpu must be a positive number of cores (got ${l.cpu})`)
  if (!(Number.isInteger(l.memoryMb) && l.memoryMb >= 4)) throw new RuntimeError('invalid_request', `resources.memoryMb must be an integer >= 4 (got ${l.memoryMb})`)
  if (!(Number.isInteger(l.pids) && l.pids >= 2)) throw new RuntimeError('invalid_request', `resources.pids must be an integer >= 2 (got ${l.pids})`)
  if (l.pids > pidsBound) {
    throw new RuntimeError('invalid_request', `resources.pids must be at most ${pidsBound} on this host (half of its kernel task limit, min(pid_max, threads-max); the rest is the host's headroom) (got ${l.pids}); ask for fewer`)
  }
}

function readInitFile(file: string): { pid: number; startTime: number } | undefined {
  const [pid, startTime] = (readText(file) ?? '').trim().split(' ').map(Number)
  return pid && startTime ? { pid, startTime } : undefined
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** SIGKILLs a process's children and waits (≤ 2 s) until their parent has reaped them. */
async function endChildren(parent: number): Promise<void> {
  const children = (): number[] => {
    try {
      return readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number)
    } catch {
      return [] // parent gone, or no CONFIG_PROC_CHILDREN: the cgroup kill below still ends them
    }
  }
  for (const pid of children()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }
  }
  for (let delay = 1, waited = 0; children().length > 0 && waited < 2000; waited += delay, delay = Math.min(delay * 2, 50)) await sleep(delay)
}
