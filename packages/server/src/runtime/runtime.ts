/** @module runtime — the seam between the control plane and a place that runs sandboxes. */
import type { Duplex, Readable, Writable } from 'node:stream'

/** Kernel-enforced limits of one sandbox. */
export interface ResourceLimits {
  /** CPU cores, fractional allowed (CFS quota = cpu * period). */
  cpu: number
  memoryMb: number
  pids: number
  /**
   * Bytes (MiB) the sandbox's writable layer may hold; a write past it fails (EDQUOT/ENOSPC) inside
   * the sandbox only. The service always sets it (defaults.diskMb); a runtime given none applies its own default.
   */
  diskMb?: number
}

/** What a template contributes to a sandbox's root filesystem. */
export interface TemplateSpec {
  name: string
  /** 'host': the host's system directories (/usr and the merged-usr links), read-only lower layer. Else a rootfs folder. */
  rootfs: 'host' | string
  /**
   * Read-only layers stacked over rootfs, lowest first: host directories in overlayfs upper format
   * (whiteouts as 0/0 character devices, opaque directories by xattr), e.g. a SnapshotRef.layer or an
   * unpacked image layer. Files are owned as the sandbox sees them shifted by the runtime's uid base.
   * Order: layers[0] sits right over rootfs, each later layer over the ones before it, so the last
   * one wins where several hold a path; the sandbox's own writable layer is above them all. A layer
   * holds `root/` (over `/`) and, for a 'host' template, optionally `usr/` (over the host's /usr).
   * A layer path that does not exist is `invalid_request`. Caveat: overlayfs takes layers on one
   * filesystem to share one inode space, which btrfs subvolumes (snapshots, the writable layer) do not,
   * so two files of different subvolumes may show one st_ino; to start from a snapshot use
   * SandboxSpec.fromSnapshot (what templates do), and keep `layers` for directories elsewhere.
   */
  layers?: string[]
}

/**
 * How strongly a sandbox is kept from the host kernel: `namespaces` (its own namespaces, cgroups, seccomp
 * filter; system calls reach the host kernel) or `gvisor` (a gVisor sandbox: gVisor's user-space kernel
 * answers its system calls, and only that kernel, itself seccomp-confined, talks to the host).
 */
export type Isolation = 'namespaces' | 'gvisor'

export interface SandboxSpec {
  /** sbx_… id; also the hostname inside and the cgroup name. */
  id: string
  /** The isolation level (a runtime that offers one level ignores it; IsolatingRuntime routes by it). Absent: namespaces. */
  isolation?: Isolation
  template: TemplateSpec
  resources: ResourceLimits
  /** Absolute paths inside the sandbox to mask (empty file / empty read-only dir). */
  denyRead: string[]
  /** Start with the files of this snapshot (Runtime.snapshots) in the writable layer instead of an empty one. */
  fromSnapshot?: string
  /**
   * egress: a link to the host whose only reachable destination is the gateway's egress ports
   * (Runtime.network); needs a runtime with `network`. Absent or false: loopback only.
   */
  network?: { egress: boolean }
}

/** A sandbox's addresses on its link to the host (Runtime.networkOf). */
export interface SandboxAddresses {
  /** The sandbox's own address (its eth0, /32); the source of every packet it sends to the host. */
  sandboxIp: string
  /** The host address its default route points at, where the egress proxy listens. */
  gatewayIp: string
}

/**
 * The host side of sandboxes' links (a runtime that gives sandboxes network). Kernel-enforced: a
 * sandbox reaches TCP ports of the egress set on gatewayIp and nothing else (no other host port on
 * any address, no other sandbox, nothing beyond the host, no UDP, no IPv6), whatever it tries.
 */
export interface RuntimeNetwork {
  /** The stable gateway address, present on the host from ensure() until the runtime is released. */
  readonly gatewayIp: string
  /**
   * Makes the gateway address and the rules present (idempotent; also done by the first start with
   * network), so a proxy can listen on gatewayIp before any sandbox exists. `runtime_unavailable`
   * naming what is missing (nft, kernel support).
   */
  ensure(): Promise<void>
  /** Replaces the egress set: the TCP ports on gatewayIp sandboxes may open (the proxy's). Calls ensure(). */
  setEgressPorts(ports: number[]): Promise<void>
}

/** An immutable point-in-time capture of a sandbox's writable layer. */
export interface SnapshotRef {
  /** The id the caller chose (the same rules as a sandbox id). */
  id: string
  /** Host path of the captured files in overlayfs upper format (usable in TemplateSpec.layers). Never written again. */
  layer: string
  /** Bytes the capture references (shared extents counted in full). */
  bytes: number
  /** Bytes only this capture holds (what deleting it frees); equals bytes where the runtime cannot tell. */
  exclusiveBytes: number
}

/** Captures of writable layers, kept by the runtime until deleted (they survive a restart of the control plane). */
export interface RuntimeSnapshots {
  /**
   * Freezes the sandbox's processes, captures its writable layer as snapshot `id`, and thaws them
   * (a paused sandbox stays paused). Consistent: no write is half in. `invalid_request` when `id`
   * exists, `not_found` when the sandbox is gone. Leaves nothing behind when it fails.
   */
  create(ref: RuntimeRef, id: string): Promise<SnapshotRef>
  /** undefined when there is no such snapshot. */
  get(id: string): Promise<SnapshotRef | undefined>
  /** Idempotent. A snapshot a running sandbox started from may be deleted: the sandbox keeps its files. */
  delete(id: string): Promise<void>
  /** Ids of every snapshot on the host (reconcile after a crash). */
  list(): Promise<string[]>
}

/** What the control plane stores to find a running sandbox again, also after a restart. */
export interface RuntimeRef {
  id: string
  /** Host PID of the sandbox's init (PID 1 inside). */
  pid: number
  /** /proc/<pid>/stat starttime (clock ticks since boot): guards against PID reuse. */
  startTime: number
}

export interface ExecRequest {
  /** argv; argv[0] is looked up on PATH inside the sandbox. */
  cmd: string[]
  /** Absolute cwd inside the sandbox (default /home/user, / for root). */
  cwd?: string
  /** The full environment of the command (the service merges defaults, sandbox envs and exec envs). */
  env: Record<string, string>
  user: 'user' | 'root'
  /** Kill the whole process tree after this many ms (enforced where the command runs, so also while the control plane is down). */
  timeoutMs: number
  /**
   * A background command: it keeps running when its caller (this process) goes away, and `adopt` finds
   * it again after a restart. Without it, losing the caller (a crash) kills the command's tree.
   */
  detached?: boolean
  /** Opaque text (at most 4 KiB) kept with a detached command and handed back by `adopt`. */
  tag?: string
}

/** A command a restarted control plane found still running (or ended while it was down) in a sandbox. */
export interface AdoptedExec {
  /** What `ExecRequest.tag` said; undefined for a command that was not detached. */
  tag?: string
  /** false: a foreground command whose caller is gone; it has been killed (its handle is settled). */
  detached: boolean
  /** No output (what it printed while nobody listened is gone); wait() and kill() work as for exec. */
  handle: ExecHandle
}

export interface ExecExit {
  /** Exit code; 128+N when killed by signal N. */
  exitCode: number
  timedOut: boolean
  /** The kernel OOM-killed a process of the sandbox while this command ran. */
  oomKilled: boolean
  /** Killed through ExecHandle.kill(). */
  killed: boolean
  durationMs: number
}

/** A command running inside a sandbox. Streams are raw bytes with normal Node backpressure. */
export interface ExecHandle {
  stdin: Writable
  stdout: Readable
  stderr: Readable
  /** Resolves once every process of the command has exited (not just the first). */
  wait(): Promise<ExecExit>
  /** SIGKILL the whole process tree of this command. Idempotent. */
  kill(): Promise<void>
}

export interface SandboxStats {
  cpuSeconds: number
  memoryBytes: number
  memoryPeakBytes: number
  memoryLimitBytes: number
  pids: number
  pidsLimit: number
  oomKills: number
  /** CPU cores the cgroup's quota allows, read back from the cgroup (cpu.max, cpu.cfs_quota_us); absent where unknown. */
  cpuLimit?: number
  /** Times a fork was refused at the pids limit (pids.events `max`); absent where the kernel does not count them. */
  pidsLimitHits?: number
  /** Bytes the writable layer holds, and its limit (runtimes that limit disk). */
  diskBytes?: number
  /** Bytes only this layer holds (not shared with a snapshot or another clone): what destroying it frees. */
  diskExclusiveBytes?: number
  diskLimitBytes?: number
  /** Size and free space of the pool every sandbox's layer shares (runtimes with one). */
  diskPoolBytes?: number
  diskPoolFreeBytes?: number
}

/** A host directory bind-mounted into one running sandbox (Runtime.bindMount). */
export interface HotMount {
  /** Absolute host path of a directory. */
  source: string
  /** Absolute path inside the sandbox, under /run, /var/run, /tmp, /home, /mnt or /workspace. */
  target: string
  readOnly?: boolean
}

export type RuntimeStatus = 'running' | 'paused' | 'gone'

/** One preflight check for `tidepool doctor`. */
export interface PreflightCheck {
  name: string
  ok: boolean
  detail: string
  /** How to fix it when not ok. */
  fix?: string
  /** A feature sandboxes can do without (e.g. the gvisor isolation level while the default is namespaces): doctor warns, and does not fail. */
  optional?: boolean
}

/** What the control plane needs from a place that runs sandboxes. Nothing more. */
export interface Runtime {
  readonly kind: string
  /**
   * Snapshots, starting from them (SandboxSpec.fromSnapshot) and template layers (TemplateSpec.layers):
   * absent on a runtime that cannot capture, where the service refuses those requests with a clear error.
   */
  readonly snapshots?: RuntimeSnapshots
  /** Per-sandbox network (SandboxSpec.network): absent on a runtime without, where egress is refused. */
  readonly network?: RuntimeNetwork
  /** The addresses of a sandbox started with network.egress; undefined for one without (or gone). */
  networkOf?(ref: RuntimeRef): SandboxAddresses | undefined
  /** The isolation level sandbox `id` runs at (a runtime with several levels); undefined when unknown or gone. */
  isolationOf?(id: string): Isolation | undefined
  /** Every kernel feature and privilege this runtime needs, present or missing. */
  preflight(): Promise<PreflightCheck[]>
  /** Start a sandbox; resolves when it is ready for exec. Leaves nothing behind when it fails. */
  start(spec: SandboxSpec): Promise<RuntimeRef>
  /**
   * Start a command. Throws at once (`not_found`) when the sandbox is gone; `wait()` rejects when the
   * command could not start (`invalid_request` for a missing cwd, `not_found`, `internal`), and
   * otherwise resolves with its exit.
   */
  exec(ref: RuntimeRef, req: ExecRequest): ExecHandle
  /**
   * The shortest path for one command (a one-shot run): starts a sandbox for `spec` whose only process
   * besides its init is `req`, with the isolation and limits of start + exec, and no exec socket
   * (`req.detached` is refused). Resolves once the sandbox is up, with its ref and the command's handle;
   * when the command has ended (or was killed) the sandbox's processes are gone, and the caller still
   * calls destroy(), which removes what is left (cgroups, layer). Absent: the caller uses start + exec.
   */
  runOnce?(spec: SandboxSpec, req: ExecRequest): Promise<{ ref: RuntimeRef; handle: ExecHandle }>
  pause(ref: RuntimeRef): Promise<void>
  resume(ref: RuntimeRef): Promise<void>
  resize(ref: RuntimeRef, limits: ResourceLimits): Promise<void>
  stats(ref: RuntimeRef): Promise<SandboxStats>
  inspect(ref: RuntimeRef): Promise<RuntimeStatus>
  /**
   * Bind-mount host directory `source` at `target` inside the running sandbox only (target created if
   * missing). Idempotent for the same pair; a different source at a bound target replaces it.
   */
  bindMount(ref: RuntimeRef, mount: HotMount): Promise<void>
  /** Undo bindMount (detach); a missing mount (or a gone sandbox) is fine. */
  unbindMount(ref: RuntimeRef, target: string): Promise<void>
  /**
   * A TCP connection to 127.0.0.1:`port` (else [::1]:`port`) inside the sandbox's network namespace,
   * as a byte stream both ways (like kubectl port-forward); a server bound to the sandbox's loopback only
   * is reachable, and nothing else on the host can reach the port. end() half-closes (the server reads
   * EOF and may still answer); the stream ends when the server closes, and is destroyed when the sandbox
   * goes. Rejects with `bad_gateway` naming the port when nothing listens there, `not_found` when the
   * sandbox is gone, `invalid_request` for a port outside 1-65535.
   */
  connectPort(ref: RuntimeRef, port: number): Promise<Duplex>
  /** Destroy: no process, mount, cgroup or file left. Idempotent (a gone sandbox is fine). */
  destroy(id: string, ref?: RuntimeRef): Promise<void>
  /**
   * A clean stop of the control plane that made this runtime: when no sandbox is left, remove what the
   * runtime keeps on the host between sandboxes (parent cgroups, a disk pool). Running sandboxes keep
   * everything (they are adopted on the next start). Optional: a runtime that keeps nothing omits it.
   */
  releaseIdle?(): Promise<void>
  /** Ids of every sandbox this runtime has traces of on the host (for reconcile after a crash). */
  list(): Promise<string[]>
  /**
   * After a restart: every command of the sandbox no handle of this process knows. Foreground ones
   * (their caller is gone) are killed; detached ones come back with their tag, to wait on or kill.
   */
  adopt(ref: RuntimeRef): Promise<AdoptedExec[]>
  /**
   * Calls `onLost` once, promptly, when the sandbox dies without destroy (its init or supervisor
   * exited), with what happened, e.g. "its supervisor exited". Also right away when it is gone already.
   */
  watch(ref: RuntimeRef, onLost: (detail: string) => void): void
}
