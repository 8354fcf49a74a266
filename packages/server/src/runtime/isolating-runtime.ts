/**
 * @module runtime/isolating-runtime — one Runtime over two isolation levels: `namespaces` (the host
 * runtime, e.g. local) and `gvisor`; each sandbox goes to the one its spec names and stays there.
 */
import type { Duplex } from 'node:stream'
import type {
  AdoptedExec,
  ExecHandle,
  ExecRequest,
  HotMount,
  Isolation,
  PreflightCheck,
  ResourceLimits,
  Runtime,
  RuntimeNetwork,
  RuntimeRef,
  RuntimeSnapshots,
  RuntimeStatus,
  SandboxAddresses,
  SandboxSpec,
  SandboxStats,
  SnapshotRef,
} from './runtime.js'
import { RuntimeError } from './local/runtime-error.js'

/** The part of a gVisor runtime this router needs besides Runtime: whether a sandbox id is one of its own. */
export interface OwningRuntime extends Runtime {
  /** True when this runtime has state of sandbox `id` on the host (also after a restart). */
  owns(id: string): boolean
}

/**
 * Routes by SandboxSpec.isolation at start (absent: `namespaces`), then by who owns the id. Snapshots,
 * network and everything else the namespaces runtime offers stay its own: a gvisor sandbox asking for them
 * gets a clear invalid_request (the gvisor runtime refuses egress, layers and snapshots itself).
 */
export class IsolatingRuntime implements Runtime {
  readonly kind: string
  readonly snapshots?: RuntimeSnapshots
  readonly network?: RuntimeNetwork
  readonly #ns: Runtime
  readonly #gvisor: OwningRuntime

  constructor(namespaces: Runtime, gvisor: OwningRuntime) {
    this.#ns = namespaces
    this.#gvisor = gvisor
    this.kind = namespaces.kind
    if (namespaces.network) this.network = namespaces.network
    if (namespaces.snapshots) this.snapshots = guardSnapshots(namespaces.snapshots, (id) => gvisor.owns(id))
    // The one-shot path is the namespaces runtime's own (its helper ends the sandbox with the command);
    // a gvisor sandbox takes start + exec (the sandboxes service asks only for namespaces ones).
    if (namespaces.runOnce) {
      const runOnce = namespaces.runOnce.bind(namespaces)
      this.runOnce = (spec, req) =>
        spec.isolation === 'gvisor' ? Promise.reject(new RuntimeError('invalid_request', 'runOnce: a gvisor sandbox has no one-shot path; start it and exec')) : runOnce(spec, req)
    }
  }

  readonly runOnce?: Runtime['runOnce']

  /** The runtime of each isolation level (for doctor and tests). */
  get levels(): Record<Isolation, Runtime> {
    return { namespaces: this.#ns, gvisor: this.#gvisor }
  }

  #of(id: string): Runtime {
    return this.#gvisor.owns(id) ? this.#gvisor : this.#ns
  }

  isolationOf(id: string): Isolation {
    return this.#gvisor.owns(id) ? 'gvisor' : 'namespaces'
  }

  networkOf(ref: RuntimeRef): SandboxAddresses | undefined {
    return this.#of(ref.id) === this.#ns ? this.#ns.networkOf?.(ref) : undefined
  }

  async preflight(): Promise<PreflightCheck[]> {
    return [...(await this.#ns.preflight()), ...(await this.#gvisor.preflight())]
  }

  start(spec: SandboxSpec): Promise<RuntimeRef> {
    return (spec.isolation === 'gvisor' ? this.#gvisor : this.#ns).start(spec)
  }

  exec(ref: RuntimeRef, req: ExecRequest): ExecHandle {
    return this.#of(ref.id).exec(ref, req)
  }
  pause(ref: RuntimeRef): Promise<void> {
    return this.#of(ref.id).pause(ref)
  }
  resume(ref: RuntimeRef): Promise<void> {
    return this.#of(ref.id).resume(ref)
  }
  resize(ref: RuntimeRef, limits: ResourceLimits): Promise<void> {
    return this.#of(ref.id).resize(ref, limits)
  }
  stats(ref: RuntimeRef): Promise<SandboxStats> {
    return this.#of(ref.id).stats(ref)
  }
  inspect(ref: RuntimeRef): Promise<RuntimeStatus> {
    return this.#of(ref.id).inspect(ref)
  }
  bindMount(ref: RuntimeRef, mount: HotMount): Promise<void> {
    return this.#of(ref.id).bindMount(ref, mount)
  }
  unbindMount(ref: RuntimeRef, target: string): Promise<void> {
    return this.#of(ref.id).unbindMount(ref, target)
  }
  connectPort(ref: RuntimeRef, port: number): Promise<Duplex> {
    return this.#of(ref.id).connectPort(ref, port)
  }
  adopt(ref: RuntimeRef): Promise<AdoptedExec[]> {
    return this.#of(ref.id).adopt(ref)
  }
  watch(ref: RuntimeRef, onLost: (detail: string) => void): void {
    this.#of(ref.id).watch(ref, onLost)
  }

  async destroy(id: string, ref?: RuntimeRef): Promise<void> {
    await this.#of(id).destroy(id, ref)
  }

  async releaseIdle(): Promise<void> {
    await this.#ns.releaseIdle?.()
    await this.#gvisor.releaseIdle?.()
  }

  async list(): Promise<string[]> {
    return [...(await this.#ns.list()), ...(await this.#gvisor.list())]
  }
}

/** The namespaces level of a runtime (itself when it offers one level): what benches and tests release. */
export function namespacesLevel(rt: Runtime): Runtime {
  return rt instanceof IsolatingRuntime ? rt.levels.namespaces : rt
}

/** The namespaces runtime's snapshots, refusing a gvisor sandbox (its writable layer lives in gVisor's memory). */
function guardSnapshots(s: RuntimeSnapshots, isGvisor: (id: string) => boolean): RuntimeSnapshots {
  return {
    create: (ref: RuntimeRef, id: string): Promise<SnapshotRef> => {
      if (isGvisor(ref.id)) {
        return Promise.reject(
          new RuntimeError('invalid_request', `sandbox ${ref.id} runs with isolation "gvisor", whose files live in gVisor's memory overlay and cannot be snapshotted; use isolation "namespaces"`),
        )
      }
      return s.create(ref, id)
    },
    get: (id) => s.get(id),
    delete: (id) => s.delete(id),
    list: () => s.list(),
  }
}
