/** @module runtime/gvisor/gvisor-runtime — GvisorRuntime: each sandbox a gVisor (runsc) sandbox, its own user-space kernel. */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { Duplex } from 'node:stream'
import type { AdoptedExec, ExecHandle, ExecRequest, HotMount, PreflightCheck, ResourceLimits, Runtime, RuntimeRef, RuntimeStatus, SandboxSpec, SandboxStats } from '../runtime.js'
import { SANDBOX_ID_RE, checkLimits, checkSandboxId } from '../sandbox-checks.js'
import { detectCgroups } from '../local/cgroups/layout.js'
import { readText } from '../local/host-files.js'
import { instanceIdOf } from '../local/instance.js'
import type { HostLayoutEntry } from '../local/mounts.js'
import { isReaped, isRunning, readStartTime } from '../local/proc.js'
import { RuntimeError } from '../local/runtime-error.js'
import { type RuntimeLogger, silentLogger } from '../local/runtime-logger.js'
import { ensureHostTemplate, readHostLayout } from '../local/template-root.js'
import { GvisorCgroups } from './gvisor-cgroups.js'
import { startGvisorExec } from './gvisor-exec.js'
import { bundleSpec } from './oci-spec.js'
import { gvisorPreflight } from './preflight.js'
import { type RunscFlags, findRunsc, globalArgs, runsc, runscEnv, runscError } from './runsc.js'

export interface GvisorRuntimeOptions {
  /** The runtime state directory (the local runtime's too); gVisor's state lives in `<dataDir>/gvisor/`. */
  dataDir: string
  /** Parent cgroup name (default 'tidepool'); gVisor sandboxes sit in `<cgroupName>-gvisor/<instance>/<id>`. */
  cgroupName?: string
  /** Path of runsc (default: scripts/install-runsc.sh's place, then /usr/local/bin, /usr/bin). */
  runscPath?: string
  /** gVisor platform (default systrap: seccomp traps, no KVM or ptrace needed). */
  platform?: 'systrap' | 'ptrace'
  /** Its preflight checks are required (runtime.defaultIsolation is gvisor); else they are optional. */
  required?: boolean
  logger?: RuntimeLogger
}

/** How often watch() looks whether a sandbox's runsc process is still there. */
const WATCH_INTERVAL_MS = 500

/**
 * Sandboxes as gVisor sandboxes: the guest's system calls are served by gVisor's Sentry (a kernel in
 * user space, itself confined by seccomp), never by the host kernel; files come through its gofer from a
 * read-only root (the host template's skeleton and the host's /usr, or the template's rootfs), writes go
 * to an overlay in the sandbox's memory; no network but loopback (--network=none); host cgroup limits on
 * the whole runsc sandbox. Commands run through `runsc exec`. No snapshots, hot mounts or egress here.
 */
export class GvisorRuntime implements Runtime {
  readonly kind = 'gvisor'
  readonly #dir: string
  readonly #bin: string | undefined
  readonly #flags: RunscFlags
  readonly #cgroups: GvisorCgroups
  readonly #parent: string
  readonly #log: RuntimeLogger
  readonly #required: boolean
  #layout: HostLayoutEntry[] | undefined
  #templateRoot: string | undefined
  /** Per paused sandbox: process groups whose kill waits for resume (runsc exec cannot enter a paused sandbox). */
  readonly #pendingKills = new Map<string, Set<number>>()
  readonly #watchers = new Map<string, NodeJS.Timeout>()
  /** Sandboxes a destroy has begun on (their commands end as killed, 137). */
  readonly #destroying = new Set<string>()

  constructor(opts: GvisorRuntimeOptions) {
    if (!isAbsolute(opts.dataDir)) throw new RuntimeError('invalid_request', `dataDir must be absolute (got ${JSON.stringify(opts.dataDir)})`)
    const cgroupName = opts.cgroupName ?? 'tidepool'
    if (!/^[A-Za-z0-9_.-]+$/.test(cgroupName)) throw new RuntimeError('invalid_request', `cgroupName must be one path segment of [A-Za-z0-9_.-] (got ${JSON.stringify(cgroupName)})`)
    this.#dir = join(opts.dataDir, 'gvisor')
    this.#bin = findRunsc(opts.runscPath)
    this.#flags = { stateDir: join(this.#dir, 'state'), platform: opts.platform ?? 'systrap' }
    const mounts = readText('/proc/mounts') ?? ''
    this.#cgroups = new GvisorCgroups(detectCgroups(mounts), mounts)
    this.#parent = `${cgroupName}-gvisor/${instanceIdOf(opts.dataDir)}`
    this.#log = opts.logger ?? silentLogger
    this.#required = opts.required ?? false
  }

  /** True when sandbox `id` has a bundle here (IsolatingRuntime routes by it, also after a restart). */
  owns(id: string): boolean {
    return SANDBOX_ID_RE.test(id) && existsSync(this.#sandboxDir(id))
  }

  /** runsc's path, or undefined when it is not installed. */
  get runscPath(): string | undefined {
    return this.#bin
  }

  #cgroupOf(id: string): string {
    return `${this.#parent}/${id}`
  }

  #sandboxDir(id: string): string {
    return join(this.#dir, 'sandboxes', id)
  }

  async preflight(): Promise<PreflightCheck[]> {
    const checks = await gvisorPreflight({ bin: this.#bin, flags: this.#flags, cgroups: this.#cgroups, dir: this.#dir })
    return this.#required ? checks : checks.map((c) => ({ ...c, optional: true }))
  }

  async start(spec: SandboxSpec): Promise<RuntimeRef> {
    checkSandboxId(spec.id)
    checkLimits(spec.resources)
    if (spec.fromSnapshot !== undefined)
      throw new RuntimeError('invalid_request', `sandbox ${spec.id}: the gvisor runtime has no snapshots, so fromSnapshot cannot be used; use isolation "namespaces"`)
    if ((spec.template.layers ?? []).length > 0) {
      throw new RuntimeError(
        'invalid_request',
        `sandbox ${spec.id}: template ${spec.template.name} has layers, which the gvisor runtime does not stack yet; use isolation "namespaces" for layered templates`,
      )
    }
    if (spec.network?.egress) {
      throw new RuntimeError('invalid_request', `sandbox ${spec.id}: gvisor sandboxes have loopback only (runsc --network=none); egress needs isolation "namespaces"`)
    }
    const bin = this.#ready()
    const dir = this.#sandboxDir(spec.id)
    if (existsSync(dir)) throw new RuntimeError('conflict', `sandbox ${spec.id} exists already`)
    this.#destroying.delete(spec.id)
    try {
      mkdirSync(join(dir, 'execs'), { recursive: true, mode: 0o700 })
      const root = spec.template.rootfs === 'host' ? this.#templateRoot! : this.#rootfs(spec)
      const emptyFile = join(this.#dir, 'empty')
      if (!existsSync(emptyFile)) writeFileSync(emptyFile, '', { mode: 0o444 })
      const masks = spec.denyRead.flatMap((p) => this.#mask(p, root, spec.template.rootfs === 'host'))
      const config = bundleSpec({
        id: spec.id,
        root,
        ...(spec.template.rootfs === 'host' ? { hostLayout: this.#layout! } : {}),
        masks,
        emptyFile,
        cgroupsPath: `/${this.#cgroupOf(spec.id)}`,
        resources: spec.resources,
      })
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 })
      await this.#run(bin, spec.id, dir)
      const st = await runsc(bin, this.#flags, ['state', spec.id])
      const pid = st.code === 0 ? Number((JSON.parse(st.stdout) as { pid?: number }).pid) : NaN
      const startTime = Number.isInteger(pid) ? readStartTime(pid) : undefined
      if (startTime === undefined) throw new RuntimeError('internal', `sandbox ${spec.id}: runsc started it but its process is gone (${runscError(st)})`)
      return { id: spec.id, pid, startTime }
    } catch (err) {
      await this.destroy(spec.id).catch(() => {})
      throw err
    }
  }

  /** `runsc run --detach`: its stdio goes to a log file (a pipe would be held open by the sandbox). */
  async #run(bin: string, id: string, dir: string): Promise<void> {
    const logFile = join(dir, 'runsc.log')
    const fd = openSync(logFile, 'w', 0o600)
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(bin, [...globalArgs(this.#flags), 'run', '--detach', `--bundle=${dir}`, id], { env: runscEnv, stdio: ['ignore', fd, fd] })
        child.once('error', reject)
        child.once('exit', (c) => resolve(c ?? 1))
      })
      if (code !== 0) {
        const text = readText(logFile) ?? ''
        throw new RuntimeError('runtime_unavailable', `runsc could not start sandbox ${id} (platform ${this.#flags.platform}): ${text.trim().split('\n').at(-1) ?? `exit ${code}`}`)
      }
    } finally {
      closeSync(fd)
    }
  }

  #rootfs(spec: SandboxSpec): string {
    const p = spec.template.rootfs
    if (!isAbsolute(p) || !statSync(p, { throwIfNoEntry: false })?.isDirectory())
      throw new RuntimeError('invalid_request', `template ${spec.template.name}: rootfs ${JSON.stringify(p)} is not a directory`)
    return p
  }

  /** A denyRead path as a mount: where the host holds it (its /usr, or the root folder), a dir or a file; absent paths need none. */
  #mask(path: string, root: string, host: boolean): { path: string; kind: 'dir' | 'file' }[] {
    if (!isAbsolute(path) || path.split('/').includes('..')) throw new RuntimeError('invalid_request', `denyRead paths must be absolute without .. (got ${JSON.stringify(path)})`)
    const fromHost = host && (path === '/usr' || path.startsWith('/usr/') || this.#layout!.some((e) => e.kind === 'dir' && (path === `/${e.name}` || path.startsWith(`/${e.name}/`))))
    const st = statSync(fromHost ? path : join(root, path), { throwIfNoEntry: false })
    if (!st) return []
    return [{ path, kind: st.isDirectory() ? 'dir' : 'file' }]
  }

  exec(ref: RuntimeRef, req: ExecRequest): ExecHandle {
    checkSandboxId(ref.id)
    if (!isRunning(ref.pid, ref.startTime)) throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its runsc sandbox, pid ${ref.pid}, is gone)`)
    return startGvisorExec(
      {
        bin: this.#bin!,
        flags: this.#flags,
        execsDir: join(this.#sandboxDir(ref.id), 'execs'),
        killGroup: (pgid) => this.#killGroup(ref.id, pgid),
        oomKills: () => this.#cgroups.oomKills(this.#cgroupOf(ref.id)),
        gone: () => this.#destroying.has(ref.id) || !isRunning(ref.pid, ref.startTime),
      },
      ref,
      req,
    )
  }

  /** SIGKILL to a process group inside, from a root exec (runsc kill reaches one process, not a group). */
  async #killGroup(id: string, pgid: number): Promise<void> {
    const pending = this.#pendingKills.get(id)
    if (pending) return void pending.add(pgid)
    await runsc(this.#bin!, this.#flags, ['exec', '--user=0:0', id, '/bin/sh', '-c', 'kill -9 -"$0" 2>/dev/null; true', String(pgid)])
  }

  connectPort(ref: RuntimeRef, port: number): Promise<Duplex> {
    if (!(Number.isInteger(port) && port >= 1 && port <= 65_535)) return Promise.reject(new RuntimeError('invalid_request', `port must be an integer in 1-65535 (got ${port})`))
    if (!isRunning(ref.pid, ref.startTime)) return Promise.reject(new RuntimeError('not_found', `sandbox ${ref.id} is not running`))
    return Promise.reject(new RuntimeError('invalid_request', `sandbox ${ref.id}: connecting to port ${port} of a gvisor sandbox is not supported yet; use isolation "namespaces" for port forwarding`))
  }

  /** Commands outlive no restart here: a restarted control plane has none of a gvisor sandbox to adopt. */
  async adopt(ref: RuntimeRef): Promise<AdoptedExec[]> {
    checkSandboxId(ref.id)
    return []
  }

  watch(ref: RuntimeRef, onLost: (detail: string) => void): void {
    checkSandboxId(ref.id)
    clearInterval(this.#watchers.get(ref.id))
    const check = () => {
      if (isRunning(ref.pid, ref.startTime)) return false
      clearInterval(this.#watchers.get(ref.id))
      this.#watchers.delete(ref.id)
      onLost(`its runsc sandbox (pid ${ref.pid}) exited`)
      return true
    }
    if (!isRunning(ref.pid, ref.startTime)) return queueMicrotask(() => void check())
    const t = setInterval(check, WATCH_INTERVAL_MS)
    t.unref()
    this.#watchers.set(ref.id, t)
  }

  async pause(ref: RuntimeRef): Promise<void> {
    this.#mustBeAlive(ref)
    const r = await runsc(this.#bin!, this.#flags, ['pause', ref.id])
    if (r.code !== 0) throw new RuntimeError('internal', `runsc pause ${ref.id}: ${runscError(r)}`)
    if (!this.#pendingKills.has(ref.id)) this.#pendingKills.set(ref.id, new Set())
  }

  async resume(ref: RuntimeRef): Promise<void> {
    this.#mustBeAlive(ref)
    const r = await runsc(this.#bin!, this.#flags, ['resume', ref.id])
    if (r.code !== 0) throw new RuntimeError('internal', `runsc resume ${ref.id}: ${runscError(r)}`)
    const pending = this.#pendingKills.get(ref.id)
    this.#pendingKills.delete(ref.id)
    for (const pgid of pending ?? []) await this.#killGroup(ref.id, pgid)
  }

  async resize(ref: RuntimeRef, limits: ResourceLimits): Promise<void> {
    checkLimits(limits)
    this.#mustBeAlive(ref)
    this.#cgroups.resize(this.#cgroupOf(ref.id), limits)
  }

  async stats(ref: RuntimeRef): Promise<SandboxStats> {
    this.#mustBeAlive(ref)
    return this.#cgroups.stats(this.#cgroupOf(ref.id))
  }

  async inspect(ref: RuntimeRef): Promise<RuntimeStatus> {
    if (!isRunning(ref.pid, ref.startTime) || !this.#bin) return 'gone'
    const r = await runsc(this.#bin, this.#flags, ['state', ref.id])
    if (r.code !== 0) return 'gone'
    const status = (JSON.parse(r.stdout) as { status?: string }).status
    return status === 'paused' ? 'paused' : status === 'running' ? 'running' : 'gone'
  }

  async bindMount(ref: RuntimeRef, mount: HotMount): Promise<void> {
    checkSandboxId(ref.id)
    throw new RuntimeError(
      'invalid_request',
      `sandbox ${ref.id}: the gvisor runtime cannot mount host directory ${JSON.stringify(mount.source)} into a running sandbox (its gofer serves only the bundle's mounts); use isolation "namespaces"`,
    )
  }

  /** Nothing is ever bound (bindMount refuses), so there is nothing to take away. */
  async unbindMount(ref: RuntimeRef, _target: string): Promise<void> {
    checkSandboxId(ref.id)
  }

  async destroy(id: string, ref?: RuntimeRef): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return
    this.#destroying.add(id)
    clearInterval(this.#watchers.get(id))
    this.#watchers.delete(id)
    this.#pendingKills.delete(id)
    if (this.#bin && this.#hasState(id)) {
      const pid = ref?.pid ?? (await this.#statePid(id))
      const startTime = ref?.startTime ?? (pid !== undefined ? readStartTime(pid) : undefined)
      const r = await runsc(this.#bin, this.#flags, ['delete', '--force', id])
      if (r.code !== 0 && !/does not exist|not found|no such/i.test(r.stderr)) this.#log.warn({ id, err: runscError(r) }, 'runsc delete')
      // runsc delete returns once the sandbox is told to go; "nothing left" means its process is gone too.
      if (pid !== undefined && startTime !== undefined) for (let i = 0; i < 100 && !isReaped(pid, startTime); i++) await new Promise((res) => setTimeout(res, 50))
    }
    this.#cgroups.remove(this.#cgroupOf(id))
    rmSync(this.#sandboxDir(id), { recursive: true, force: true })
  }

  async #statePid(id: string): Promise<number | undefined> {
    const st = await runsc(this.#bin!, this.#flags, ['state', id])
    if (st.code !== 0) return undefined
    const pid = Number((JSON.parse(st.stdout) as { pid?: number }).pid)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  }

  /** runsc keeps `<root>/<id>_sandbox:<id>.state`-like files; any entry naming the id counts. */
  #hasState(id: string): boolean {
    try {
      return readdirSync(this.#flags.stateDir).some((n) => n === id || n.startsWith(`${id}_`) || n.includes(`_${id}.`) || n.includes(`:${id}`))
    } catch {
      return false
    }
  }

  async list(): Promise<string[]> {
    try {
      return readdirSync(join(this.#dir, 'sandboxes')).filter((n) => SANDBOX_ID_RE.test(n))
    } catch {
      return []
    }
  }

  /**
   * Once no gvisor sandbox is left: unmounts the empty network namespace runsc keeps bound in its state
   * dir for --network=none (`null-netns`), and removes the parent cgroups.
   */
  async releaseIdle(): Promise<void> {
    if ((await this.list()).length > 0) return
    const netns = join(this.#flags.stateDir, 'null-netns')
    if ((readText('/proc/mounts') ?? '').split('\n').some((l) => l.split(' ')[1] === netns)) {
      await new Promise<void>((resolve) =>
        spawn('umount', [netns], { env: runscEnv, stdio: 'ignore' })
          .once('close', () => resolve())
          .once('error', () => resolve()),
      )
    }
    rmSync(netns, { force: true })
    this.#cgroups.remove(this.#parent)
    this.#cgroups.remove(this.#parent.split('/')[0]!)
  }

  /** runsc's path, else runtime_unavailable; builds the host template (uid 0 = root inside gVisor) once. */
  #ready(): string {
    if (!this.#bin) {
      throw new RuntimeError(
        'runtime_unavailable',
        'gvisor runtime unavailable: runsc is not installed (looked in /usr/local/lib/tidepool, /usr/local/bin, /usr/bin); install it with scripts/install-runsc.sh',
      )
    }
    if (!this.#cgroups.available) throw new RuntimeError('runtime_unavailable', 'gvisor runtime unavailable: no cgroup hierarchy is mounted; mount cgroups v1 or v2')
    if (!this.#templateRoot) {
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
      this.#layout = readHostLayout()
      this.#templateRoot = ensureHostTemplate(this.#dir, 0, this.#layout)
    }
    return this.#bin
  }

  #mustBeAlive(ref: RuntimeRef): void {
    if (!isRunning(ref.pid, ref.startTime)) throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its runsc sandbox, pid ${ref.pid}, is gone)`)
  }

  /** For tests: the instance dir (all of this runtime's host state). */
  get stateDir(): string {
    return this.#dir
  }

  /** For tests: what is left of a sandbox on the host (bundle dir, runsc state, cgroups). */
  traces(id: string): string[] {
    const out: string[] = []
    if (existsSync(this.#sandboxDir(id))) out.push(this.#sandboxDir(id))
    if (this.#hasState(id)) out.push(`runsc state of ${id} in ${this.#flags.stateDir}`)
    for (const d of this.#cgroups.dirs(this.#cgroupOf(id))) if (existsSync(d)) out.push(d)
    return out
  }
}
