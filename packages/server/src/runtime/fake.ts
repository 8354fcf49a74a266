/** @module runtime/fake — an in-memory Runtime for fast tests of the layers above it. Runs nothing. */
import { formatIpv4, gatewayOf, nextAddress, parseRange } from './local/network/address-pool.js'
import { Duplex, PassThrough } from 'node:stream'
import { RuntimeError } from './local/runtime-error.js'
import { checkLimits, checkSandboxId } from './sandbox-checks.js'
import type {
  AdoptedExec,
  RuntimeSnapshots,
  SnapshotRef,
  ExecExit,
  ExecHandle,
  ExecRequest,
  HotMount,
  PreflightCheck,
  ResourceLimits,
  Runtime,
  RuntimeNetwork,
  RuntimeRef,
  RuntimeStatus,
  SandboxAddresses,
  SandboxSpec,
  SandboxStats,
} from './runtime.js'

export interface FakeReply {
  stdout?: string | Buffer
  stderr?: string
  exitCode?: number
  oomKilled?: boolean
}

interface FakeSandbox {
  spec: SandboxSpec
  limits: ResourceLimits
  status: RuntimeStatus
  /** Kills of its commands still running: destroy ends them, as a real runtime does. */
  running: Set<() => void>
  /** Servers "listening inside" (FakeRuntime.listen): port → what takes each connection. */
  listeners: Map<number, (conn: Duplex) => void>
}

/** Two connected in-memory streams: what one writes the other reads, end() half-closes, destroy() ends both. */
export function duplexPair(): [Duplex, Duplex] {
  const ab = new PassThrough()
  const ba = new PassThrough()
  const a = Duplex.from({ writable: ab, readable: ba })
  const b = Duplex.from({ writable: ba, readable: ab })
  // Destroying one side aborts the streams both share: that is the far side "seeing the connection end".
  for (const [self, other] of [
    [a, b],
    [b, a],
  ] as const) {
    self.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ABORT_ERR') other.destroy(err)
    })
    self.once('close', () => other.destroy())
  }
  return [a, b]
}

/**
 * Commands are answered by `reply` (default: echo argv). Lets HTTP, dispatch, quota, lifecycle and
 * streaming tests run without root; the real isolation is tested against LocalRuntime.
 */
export class FakeRuntime implements Runtime {
  readonly kind = 'fake'
  readonly sandboxes = new Map<string, FakeSandbox>()
  readonly execs: ExecRequest[] = []
  /** bindMount/unbindMount: sandbox id → target → mount. */
  readonly mounts = new Map<string, Map<string, HotMount>>()
  #nextPid = 1000
  /** watch() listeners per sandbox, until destroy. */
  readonly #onLost = new Map<string, (detail: string) => void>()
  failNextStart?: Error
  /** Disk figures stats() adds (what a runtime with a storage pool reports). */
  diskStats: Partial<SandboxStats> = {}
  /** Per-sandbox figures stats() reports instead of the idle defaults (a test's memory-starved sandbox). */
  readonly statsOverride = new Map<string, Partial<SandboxStats>>()
  /** Bytes (and exclusive bytes) every new capture reports. */
  snapshotBytes = 0
  /** Captures by id: the fake keeps no files, only the record (layer is a path that does not exist). */
  readonly snapshotRefs = new Map<string, SnapshotRef>()
  readonly snapshots: RuntimeSnapshots = {
    create: async (ref, id) => {
      this.#must(ref.id)
      checkSandboxId(id)
      if (this.snapshotRefs.has(id)) throw new RuntimeError('invalid_request', `snapshot ${id} exists already`)
      const snap = { id, layer: `/nonexistent/fake-snapshots/${id}`, bytes: this.snapshotBytes, exclusiveBytes: this.snapshotBytes }
      this.snapshotRefs.set(id, snap)
      return { ...snap }
    },
    get: async (id) => {
      const s = this.snapshotRefs.get(id)
      return s && { ...s }
    },
    delete: async (id) => {
      this.snapshotRefs.delete(id)
    },
    list: async () => [...this.snapshotRefs.keys()],
  }

  /** Addresses from 10.200.0.0/16 as the local runtime's default; no packet moves (nothing runs). */
  readonly #range = parseRange('10.200.0.0/16')
  readonly #addresses = new Map<string, number>()
  #cursor = 0
  /** What setEgressPorts was last given; ensure() calls counted (for tests of the layers above). */
  egressPorts: number[] = []
  ensureCalls = 0
  readonly network: RuntimeNetwork = {
    gatewayIp: formatIpv4(gatewayOf(this.#range)),
    ensure: async () => {
      this.ensureCalls++
    },
    setEgressPorts: async (ports) => {
      if (!ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65_535)) throw new RuntimeError('invalid_request', `egress ports must be integers from 1 to 65535 (got ${JSON.stringify(ports)})`)
      this.ensureCalls++
      this.egressPorts = [...new Set(ports)].sort((a, b) => a - b)
    },
  }

  networkOf(ref: RuntimeRef): SandboxAddresses | undefined {
    const ip = this.#addresses.get(ref.id)
    return ip === undefined ? undefined : { sandboxIp: formatIpv4(ip), gatewayIp: this.network.gatewayIp }
  }

  constructor(private readonly reply: (req: ExecRequest) => FakeReply = (r) => ({ stdout: `${r.cmd.join(' ')}\n` })) {}

  async preflight(): Promise<PreflightCheck[]> {
    return [{ name: 'fake', ok: true, detail: 'fake runtime (tests only)' }]
  }

  async start(spec: SandboxSpec): Promise<RuntimeRef> {
    if (this.failNextStart) {
      const err = this.failNextStart
      this.failNextStart = undefined
      throw err
    }
    checkSandboxId(spec.id)
    checkLimits(spec.resources)
    if (spec.fromSnapshot !== undefined && !this.snapshotRefs.has(spec.fromSnapshot)) throw new RuntimeError('not_found', `snapshot ${spec.fromSnapshot} does not exist`)
    if (spec.network?.egress) {
      this.#cursor = nextAddress(this.#range, new Set(this.#addresses.values()), this.#cursor)
      this.#addresses.set(spec.id, this.#cursor)
    }
    this.sandboxes.set(spec.id, { spec, limits: spec.resources, status: 'running', running: new Set(), listeners: new Map() })
    return { id: spec.id, pid: this.#nextPid++, startTime: 1 }
  }

  exec(ref: RuntimeRef, req: ExecRequest): ExecHandle {
    const sandbox = this.#must(ref.id)
    this.execs.push(req)
    const stdin = new PassThrough()
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const input: Buffer[] = []
    stdin.on('data', (c: Buffer) => input.push(c))
    let killed = false
    const kill = () => {
      killed = true
      stdin.end()
    }
    sandbox.running.add(kill)
    const done = new Promise<ExecExit>((resolve) => {
      stdin.on('end', () => {
        setImmediate(() => {
          sandbox.running.delete(kill)
          const r = killed ? { exitCode: 137 } : this.reply({ ...req, env: { ...req.env, __stdin: Buffer.concat(input).toString() } })
          if (r.stdout) stdout.write(r.stdout)
          if (r.stderr) stderr.write(r.stderr)
          stdout.end()
          stderr.end()
          resolve({ exitCode: r.exitCode ?? 0, timedOut: false, oomKilled: Boolean(r.oomKilled), killed, durationMs: 1 })
        })
      })
    })
    return {
      stdin,
      stdout,
      stderr,
      wait: () => done,
      kill: async () => kill(),
    }
  }

  /** Tests: a server "inside" sandbox `id` on `port`; each connectPort hands it the far end of a stream. */
  listen(id: string, port: number, onConnection: (conn: Duplex) => void): void {
    this.#must(id).listeners.set(port, onConnection)
  }

  async connectPort(ref: RuntimeRef, port: number): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RuntimeError('invalid_request', `port must be an integer 1-65535 (got ${JSON.stringify(port)})`)
    const sandbox = this.#must(ref.id)
    const serve = sandbox.listeners.get(port)
    if (!serve) throw new RuntimeError('bad_gateway', `sandbox ${ref.id}: nothing listens on port ${port} inside the sandbox (fake runtime: no listen() for it)`)
    const [ours, theirs] = duplexPair()
    const drop = () => ours.destroy()
    sandbox.running.add(drop)
    ours.once('close', () => sandbox.running.delete(drop))
    serve(theirs)
    return ours
  }

  async pause(ref: RuntimeRef): Promise<void> {
    this.#must(ref.id).status = 'paused'
  }

  async resume(ref: RuntimeRef): Promise<void> {
    this.#must(ref.id).status = 'running'
  }

  async resize(ref: RuntimeRef, limits: ResourceLimits): Promise<void> {
    checkLimits(limits)
    this.#must(ref.id).limits = limits
  }

  async stats(ref: RuntimeRef): Promise<SandboxStats> {
    const s = this.#must(ref.id)
    return {
      cpuSeconds: 0,
      memoryBytes: 1 << 20,
      memoryPeakBytes: 1 << 20,
      memoryLimitBytes: s.limits.memoryMb * 1048576,
      pids: 1,
      pidsLimit: s.limits.pids,
      oomKills: 0,
      cpuLimit: s.limits.cpu,
      pidsLimitHits: 0,
      ...this.diskStats,
      ...this.statsOverride.get(ref.id),
    }
  }

  async inspect(ref: RuntimeRef): Promise<RuntimeStatus> {
    return this.sandboxes.get(ref.id)?.status ?? 'gone'
  }

  async bindMount(ref: RuntimeRef, mount: HotMount): Promise<void> {
    this.#must(ref.id)
    const m = this.mounts.get(ref.id) ?? new Map<string, HotMount>()
    this.mounts.set(ref.id, m.set(mount.target, { ...mount }))
  }

  async unbindMount(ref: RuntimeRef, target: string): Promise<void> {
    this.mounts.get(ref.id)?.delete(target)
  }

  async destroy(id: string): Promise<void> {
    this.#onLost.delete(id)
    for (const kill of this.sandboxes.get(id)?.running ?? []) kill()
    this.sandboxes.delete(id)
    this.mounts.delete(id)
    this.#addresses.delete(id)
  }

  async list(): Promise<string[]> {
    return [...this.sandboxes.keys()]
  }

  async adopt(): Promise<AdoptedExec[]> {
    return [] // nothing survives the process that made it
  }

  watch(ref: RuntimeRef, onLost: (detail: string) => void): void {
    if (!this.sandboxes.has(ref.id)) return onLost('its init is gone')
    this.#onLost.set(ref.id, onLost)
  }

  /** Tests: the sandbox dies under the control plane (as when its supervisor is killed). */
  lose(id: string, detail = 'its supervisor exited'): void {
    const s = this.sandboxes.get(id)
    if (s) s.status = 'gone'
    const l = this.#onLost.get(id)
    this.#onLost.delete(id)
    l?.(detail)
  }

  #must(id: string): FakeSandbox {
    const s = this.sandboxes.get(id)
    if (!s) throw new RuntimeError('not_found', `sandbox ${id} is not running (fake runtime: no such sandbox)`)
    return s
  }
}
