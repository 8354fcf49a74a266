/** @module runtime/local/local-runtime — LocalRuntime: sandboxes as namespaces + cgroups + overlayfs on this Linux host. */
import { mkdirSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KeyedMutex } from '../../core/mutex.js'
import type { Duplex } from 'node:stream'
import type { AdoptedExec, ExecHandle, ExecRequest, HotMount, PreflightCheck, ResourceLimits, Runtime, RuntimeRef, RuntimeStatus, SandboxAddresses, SandboxSpec, SandboxStats } from '../runtime.js'
import { SANDBOX_ID_RE, checkLimits, checkSandboxId } from '../sandbox-checks.js'
import { adoptExecs } from './adopted-exec.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { createCgroups } from './cgroups/create-cgroups.js'
import { detectCgroups } from './cgroups/layout.js'
import { destroySandbox, listSandboxes } from './destroy-sandbox.js'
import { execSocketPath } from './exec-socket.js'
import { hotBind, hotUnbind } from './hot-mount.js'
import { pidsCeiling, readHostTasks } from './host-limits.js'
import { readText } from './host-files.js'
import { instanceIdOf } from './instance.js'
import { type LayerDriver, type LayerDriverChoice, openLayerDriver } from './layer-driver.js'
import { unsupportedDiskMb } from './dir-layers.js'
import { LocalSnapshots } from './local-snapshots.js'
import { ProcessWatcher, supervisorOf } from './liveness.js'
import { checkExecRequest, connectedExec, defaultCwd, startExec } from './local-exec.js'
import { connectPort } from './port-connect.js'
import type { HostLayoutEntry } from './mounts.js'
import { checkHostPath, checkHotMount, checkHotMountTarget, sandboxPaths } from './mounts.js'
import { LocalNetwork, type NetworkConfig } from './network/local-network.js'
import { runPreflight } from './preflight.js'
import { isAlive, isRunning } from './proc.js'
import { type RuntimeLogger, silentLogger } from './runtime-logger.js'
import { RuntimeError } from './runtime-error.js'
import { UID_BASE, startOneShot, startSandbox, type StartDeps, type StartPhase } from './start-sandbox.js'
import { ensureHostTemplate, readHostLayout } from './template-root.js'

export type { RuntimeLogger } from './runtime-logger.js'
export type { StartPhase } from './start-sandbox.js'
export type { NetworkConfig } from './network/local-network.js'
export { ID_COUNT, UID_BASE } from './start-sandbox.js'

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
  /** Disk limits of sandbox writable layers (MiB) and their driver; see layer-driver.ts. */
  disk?: DiskLimits
  /** Per-sandbox network (SandboxSpec.network); see network/local-network.ts. */
  network?: NetworkConfig
}

export interface DiskLimits {
  /** Where writable layers and snapshots live (default auto: btrfs where the host has it); see layer-driver.ts. */
  driver?: LayerDriverChoice
  /** Size of the sparse pool image all sandboxes' writable layers share (default 20480). */
  poolMb?: number
  /** The largest resources.diskMb one sandbox may have (default 10240, at most poolMb). */
  maxMb?: number
  /** resources.diskMb of a spec without one (default 2048). */
  defaultMb?: number
}

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
  readonly #layers: LayerDriver
  readonly #disk: Required<Omit<DiskLimits, 'driver'>>
  #layout: HostLayoutEntry[] | undefined
  #templateRoot: string | undefined
  /** Resolves when the init's supervisor (our child) has exited and been reaped, per sandbox we started. */
  readonly #supervisors = new Map<string, Promise<void>>()
  /** Per sandbox: its binds and unbinds run one after another (they share its record of binds). */
  readonly #mountLock = new KeyedMutex()
  /** Per sandbox: pause, resume and a snapshot's freeze–capture–thaw run one after another. */
  readonly #freezeLock = new KeyedMutex()
  /** Read-only btrfs snapshots of sandboxes' writable layers, in the disk pool (local-snapshots.ts). */
  readonly snapshots: LocalSnapshots
  /** Per sandbox: exec cgroups with a live handle in this process (what adopt must leave alone). */
  readonly #liveExecs = new Map<string, Set<string>>()
  /** Pidfds (in a helper child) on each watched sandbox's init and supervisor. */
  readonly #watcher: ProcessWatcher
  /** The host side of sandboxes' links, unless runtime.network.enabled is false. */
  readonly network?: LocalNetwork
  /** Told how long each phase of every start takes (the peers bench reports them, p50 beside p99). */
  startTimings: ((phase: StartPhase, ms: number) => void) | undefined

  constructor(opts: LocalRuntimeOptions) {
    if (!isAbsolute(opts.dataDir)) throw new RuntimeError('invalid_request', `dataDir must be absolute (got ${JSON.stringify(opts.dataDir)})`)
    this.#dataDir = checkHostPath(opts.dataDir.replace(/(?<!\/)\/+$/, ''), 'runtime dataDir')
    this.#cgroupName = opts.cgroupName ?? 'tidepool'
    if (!/^[A-Za-z0-9_.-]+$/.test(this.#cgroupName)) throw new RuntimeError('invalid_request', `cgroupName must be one path segment of [A-Za-z0-9_.-] (got ${JSON.stringify(this.#cgroupName)})`)
    this.#helperPath = opts.helperPath ?? defaultHelperPath
    this.#log = opts.logger ?? silentLogger
    const layout = detectCgroups(readText('/proc/mounts') ?? '')
    if (opts.cgroup2 === false && layout.version === 1) delete layout.unified
    this.#instance = instanceIdOf(this.#dataDir)
    this.#pidsBound = pidsCeiling(readHostTasks())
    this.#cgroups = createCgroups(layout, this.#cgroupName, this.#instance, { pidsCeiling: this.#pidsBound })
    const poolMb = opts.disk?.poolMb ?? 20_480
    this.#disk = { poolMb, maxMb: Math.min(opts.disk?.maxMb ?? 10_240, poolMb), defaultMb: Math.min(opts.disk?.defaultMb ?? 2048, poolMb) }
    this.#layers = openLayerDriver({ choice: opts.disk?.driver ?? 'auto', dataDir: this.#dataDir, instance: this.#instance, sizeMb: poolMb, helperPath: this.#helperPath, log: this.#log })
    this.snapshots = new LocalSnapshots({ dataDir: this.#dataDir, layers: this.#layers, cgroups: this.#cgroups, freezeLock: this.#freezeLock })
    if (opts.network?.enabled !== false) {
      this.network = new LocalNetwork({
        helperPath: this.#helperPath,
        sandboxesDir: join(this.#dataDir, 'sandboxes'),
        liveIds: () => this.list(),
        ...(opts.network?.range ? { range: opts.network.range } : {}),
      })
    }
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

  /** The layer driver in use (`btrfs`, `reflink` or `copy`; for `auto`, what the probe chose once a pool is open). */
  get diskDriver(): LayerDriver['kind'] {
    return this.#layers.kind
  }

  /** Whether resources.diskMb is enforced by the kernel here (btrfs qgroups). */
  get enforcesDiskMb(): boolean {
    return this.#layers.enforcesDiskMb
  }

  /** The largest resources.pids a sandbox may have on this host (the same bound caps all of them together). */
  get pidsBound(): number {
    return this.#pidsBound
  }

  async preflight(): Promise<PreflightCheck[]> {
    const net = this.network ? [await this.network.preflight()] : []
    return [...runPreflight({ dataDir: this.#dataDir, helperPath: this.#helperPath, cgroups: this.#cgroups }), this.#layers.preflight(), ...net]
  }

  async start(spec: SandboxSpec): Promise<RuntimeRef> {
    const { diskMb, from } = await this.#prepareStart(spec)
    const net = spec.network?.egress ? await this.#link(spec.id) : undefined
    return startSandbox(this.#startDeps(), spec, diskMb, from, net)
  }

  /**
   * One command as the only process of a new sandbox besides its init: the helper gets the exec request
   * with its start (no exec socket, no connection to dial) and ends the sandbox's processes once the
   * command is done; destroy() then removes its cgroups and layer. The command goes through the very
   * handler code of exec (exec cgroup, namespaces, uid, seccomp, timeout). No network (a sandbox with
   * egress needs its link set up around the start: use start + exec), no detached command.
   */
  async runOnce(spec: SandboxSpec, req: ExecRequest): Promise<{ ref: RuntimeRef; handle: ExecHandle }> {
    if (spec.network?.egress) throw new RuntimeError('invalid_request', `sandbox ${spec.id}: a one-shot run has no network link; start it and exec instead`)
    if (req.detached) throw new RuntimeError('invalid_request', "a one-shot command cannot be detached (it is the sandbox's only command)")
    checkExecRequest(req)
    // A cwd other than the user's home may be missing, and the helper's one-shot handler does not report
    // that (the command comes back killed, 137, instead of the exec's invalid_request naming the cwd):
    // such a run takes start + exec, and the sandbox is destroyed once its command is done.
    if (req.cwd !== undefined && req.cwd !== '/' && req.cwd !== defaultCwd(req.user) && !(req.user === 'root' && req.cwd === '/root')) {
      const ref = await this.start(spec)
      const handle = this.exec(ref, req)
      void handle
        .wait()
        .catch(() => undefined)
        .finally(() => this.destroy(spec.id, ref).catch(() => undefined))
      return { ref, handle }
    }
    const { diskMb, from } = await this.#prepareStart(spec)
    const exec = { cgroups: this.#cgroups, socketPath: '', execsDir: join(sandboxPaths(this.#dataDir, spec.id).dir, 'execs'), live: this.#liveSet(spec.id) }
    const { ref, connection, prepared } = await startOneShot(this.#startDeps(), spec, diskMb, { req, exec }, from)
    return { ref, handle: connectedExec({ ...exec, connected: connection }, ref, prepared, req.timeoutMs) }
  }

  async #prepareStart(spec: SandboxSpec): Promise<{ diskMb: number; from: string | undefined }> {
    checkSandboxId(spec.id)
    checkLimits(spec.resources, this.#pidsBound)
    const diskMb = this.#diskMb(spec.resources, `sandbox ${spec.id}`)
    if (spec.fromSnapshot !== undefined) checkSandboxId(spec.fromSnapshot)
    this.#ready()
    await this.#layers.ensure()
    const from = spec.fromSnapshot === undefined ? undefined : await this.snapshots.subvolumeOf(spec.fromSnapshot)
    return { diskMb, from }
  }

  #startDeps(): StartDeps {
    return {
      dataDir: this.#dataDir,
      helperPath: this.#helperPath,
      cgroups: this.#cgroups,
      log: this.#log,
      hostTemplateRoot: this.#templateRoot!,
      hostLayout: this.#layout!,
      layers: this.#layers,
      supervisors: this.#supervisors,
      destroy: (id) => this.destroy(id),
      timings: this.startTimings,
    }
  }

  /** The rules first (never a link they do not police), then an address (a failed start's destroy frees it). */
  async #link(id: string) {
    const network = this.network
    if (!network) throw new RuntimeError('invalid_request', `sandbox ${id} asks for network, which runtime.network.enabled = false turns off on this host`)
    await network.ensure() // the first one also removes stray pairs
    if (network.lastPruned.length > 0) this.#log.info({ links: network.lastPruned.splice(0) }, 'removed stray sandbox links')
    return { ...network.allocate(id), record: (dir: string) => network.record(id, dir) }
  }

  networkOf(ref: RuntimeRef): SandboxAddresses | undefined {
    if (!this.network || !SANDBOX_ID_RE.test(ref.id)) return undefined
    return this.network.addressesOf(ref.id)
  }

  exec(ref: RuntimeRef, req: ExecRequest): ExecHandle {
    const dir = sandboxPaths(this.#dataDir, ref.id).dir
    return startExec({ cgroups: this.#cgroups, socketPath: execSocketPath(dir), execsDir: join(dir, 'execs'), live: this.#liveSet(ref.id) }, ref, req)
  }

  /** A TCP stream to a port inside the sandbox, relayed by a handler of its supervisor (port-connect.ts). */
  connectPort(ref: RuntimeRef, port: number): Promise<Duplex> {
    checkSandboxId(ref.id)
    return connectPort(execSocketPath(sandboxPaths(this.#dataDir, ref.id).dir), ref, port)
  }

  /** The sandbox's commands no handle of this process owns: detached ones adopted, lost foreground ones killed. */
  async adopt(ref: RuntimeRef): Promise<AdoptedExec[]> {
    checkSandboxId(ref.id)
    if (!isRunning(ref.pid, ref.startTime)) return []
    return adoptExecs({ cgroups: this.#cgroups, ref, execsDir: join(sandboxPaths(this.#dataDir, ref.id).dir, 'execs'), live: this.#liveSet(ref.id) })
  }

  /** onLost fires when the sandbox's init or its supervisor exits without destroy (pidfds, not polling). */
  watch(ref: RuntimeRef, onLost: (detail: string) => void): void {
    checkSandboxId(ref.id)
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
    await this.#freezeLock.run(ref.id, () => this.#cgroups.freeze(ref.id))
  }

  async resume(ref: RuntimeRef): Promise<void> {
    this.#mustBeAlive(ref)
    await this.#freezeLock.run(ref.id, () => this.#cgroups.thawAndWait(ref.id))
  }

  async resize(ref: RuntimeRef, limits: ResourceLimits): Promise<void> {
    checkLimits(limits, this.#pidsBound)
    const diskMb = limits.diskMb === undefined ? undefined : this.#diskMb(limits, `sandbox ${ref.id}`)
    this.#mustBeAlive(ref)
    const dir = sandboxPaths(this.#dataDir, ref.id).dir
    // Disk first: it can still refuse (below what the sandbox holds) before any cgroup limit changed.
    if (diskMb !== undefined && this.#layers.enforcesDiskMb) await this.#layers.setLimit(ref.id, dir, diskMb * 1_048_576)
    this.#cgroups.resize(ref.id, limits)
  }

  async stats(ref: RuntimeRef): Promise<SandboxStats> {
    this.#mustBeAlive(ref)
    const disk = await this.#layers.usage(sandboxPaths(this.#dataDir, ref.id).dir)
    const pool = await this.#layers.space()
    return {
      ...this.#cgroups.stats(ref.id),
      ...(pool ? { diskPoolBytes: pool.totalBytes, diskPoolFreeBytes: pool.freeBytes } : {}),
      ...(disk ? { diskBytes: disk.bytes, diskExclusiveBytes: disk.exclusiveBytes } : {}),
      ...(disk?.limitBytes !== undefined ? { diskLimitBytes: disk.limitBytes } : {}),
    }
  }

  /**
   * resources.diskMb (or the default), checked against runtime.disk.maxMb. A driver that cannot enforce
   * it takes only the default (which it does not enforce, as preflight says): any other is refused.
   */
  #diskMb(l: ResourceLimits, what: string): number {
    const mb = l.diskMb ?? this.#disk.defaultMb
    if (!this.#layers.enforcesDiskMb && mb !== this.#disk.defaultMb) throw unsupportedDiskMb(this.#layers.kind, what)
    if (!(Number.isInteger(mb) && mb >= 16)) throw new RuntimeError('invalid_request', `resources.diskMb must be an integer >= 16 (got ${mb})`)
    if (mb > this.#disk.maxMb) {
      throw new RuntimeError(
        'invalid_request',
        `resources.diskMb must be at most ${this.#disk.maxMb} on this host (runtime.disk.maxMb) (got ${mb}); ask for less, or have an admin raise runtime.disk.maxMb (and runtime.disk.poolMb)`,
      )
    }
    return mb
  }

  async inspect(ref: RuntimeRef): Promise<RuntimeStatus> {
    if (!isRunning(ref.pid, ref.startTime)) return 'gone'
    if (SANDBOX_ID_RE.test(ref.id)) await this.snapshots.settleCapture(ref.id) // frozen by a capture a crash cut short: not paused
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
    checkSandboxId(ref.id)
    const m = checkHotMount(mount)
    this.#mustBeAlive(ref)
    await this.#mountLock.run(ref.id, () => hotBind({ helperPath: this.#helperPath, sandboxDir: sandboxPaths(this.#dataDir, ref.id).dir }, ref, m))
  }

  /** Detaches what bindMount put at `target`; nothing there, or a sandbox that is gone, is fine. */
  async unbindMount(ref: RuntimeRef, target: string): Promise<void> {
    checkSandboxId(ref.id)
    const t = checkHotMountTarget(target)
    if (!isRunning(ref.pid, ref.startTime)) return // its mounts went with its mount namespace
    await this.#mountLock.run(ref.id, async () => {
      try {
        await hotUnbind({ helperPath: this.#helperPath, sandboxDir: sandboxPaths(this.#dataDir, ref.id).dir }, ref, t)
      } catch (err) {
        if (err instanceof RuntimeError && err.code === 'not_found') return // gone meanwhile: so is the mount
        throw err
      }
    })
  }

  async destroy(id: string, ref?: RuntimeRef): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return // nothing of ours can carry such a name
    await this.#layers.adopt() // after a reboot: its subvolume is in the pool, which must be mounted to remove it
    // An end we cause is no loss.
    this.#watcher.unwatch(`${id}:init`)
    this.#watcher.unwatch(`${id}:sup`)
    this.#liveExecs.delete(id)
    this.network?.addressesOf(id) // read before its dir (and `net` file) goes
    await destroySandbox({ dataDir: this.#dataDir, layers: this.#layers, cgroups: this.#cgroups, supervisors: this.#supervisors }, id, ref)
    await this.network?.release(id)
  }

  async list(): Promise<string[]> {
    await this.#layers.adopt()
    return listSandboxes({ dataDir: this.#dataDir, cgroups: this.#cgroups })
  }

  /**
   * Removes what this runtime keeps on the host between sandboxes: its (empty) parent cgroups (and the
   * shared `<cgroupName>` when no instance is left), and its disk pool (unmounted, image deleted) when
   * no sandbox is in it; for tests, uninstall and a clean stop. Sandboxes must be destroyed first.
   */
  async releaseIdle(): Promise<void> {
    if ((await this.list()).length === 0) {
      await this.removeCgroupParents()
      await this.network?.releaseIfIdle()
    }
  }

  async removeCgroupParents(): Promise<void> {
    this.#cgroups.removeParents()
    await this.#layers.release()
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
}
