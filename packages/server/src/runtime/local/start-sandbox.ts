/** @module runtime/local/start-sandbox — create: a sandbox's cgroups and layer, then `helper create` until its init is ready for exec. */
import { spawn } from 'node:child_process'
import type { Socket } from 'node:net'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { emptyEnv } from '../../core/child-env.js'
import type { ExecRequest, RuntimeRef, SandboxSpec } from '../runtime.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { FALLBACK_SOCKET_DIR, execSocketPath } from './exec-socket.js'
import { createArgv } from './helper-args.js'
import type { HostLayoutEntry } from './mounts.js'
import { planMounts, sandboxPaths } from './mounts.js'
import { readStartTime } from './proc.js'
import type { RuntimeLogger } from './runtime-logger.js'
import { RuntimeError, messageOf } from './runtime-error.js'
import type { LayerDriver } from './layer-driver.js'
import type { SandboxLink } from './network/local-network.js'
import { resolveLayers } from './template-layers.js'
import { prepareExec, type ExecDeps, type PreparedExec } from './local-exec.js'

/** The helper's fd of a one-shot sandbox's exec connection (stdio[3]: a socketpair, as libuv makes every 'pipe'). */
const RUN_FD = 3

/** A one-shot start (runOnce): the command, and where its exec cgroup is kept track of. */
export interface OneShot {
  req: ExecRequest
  exec: Omit<ExecDeps, 'connected'>
}

/** Host uid/gid that is root inside every sandbox; the sandbox owns uids [UID_BASE, UID_BASE + ID_COUNT). */
export const UID_BASE = 100_000
export const ID_COUNT = 65_536

export interface StartDeps {
  dataDir: string
  helperPath: string
  cgroups: Cgroups
  log: RuntimeLogger
  hostTemplateRoot: string
  hostLayout: HostLayoutEntry[]
  layers: LayerDriver
  /** Resolves when the init's supervisor (our child) has exited and been reaped, per sandbox started. */
  supervisors: Map<string, Promise<void>>
  /** Removes what a failed start left. */
  destroy: (id: string) => Promise<void>
  /** Told how long each phase of a start took (StartPhase), for benchmarks and tail hunting. */
  timings?: ((phase: StartPhase, ms: number) => void) | undefined
}

/**
 * The phases of a start, in order: the writable layer, the cgroups (and a one-shot's exec cgroup), the
 * synchronous part of spawning the helper (the event loop is blocked meanwhile), the helper until init is
 * ready (namespaces, mounts, v1 cgroup joins, uid maps), and recording the init.
 */
export type StartPhase = 'layer' | 'cgroups' | 'spawn' | 'helper' | 'record'

/** Times consecutive phases: each mark() reports the time since the previous one. */
function phaseClock(report: StartDeps['timings']): (phase: StartPhase) => void {
  let last = performance.now()
  return (phase) => {
    const now = performance.now()
    report?.(phase, now - last)
    last = now
  }
}

/**
 * Starts a checked spec whose writable layer may take `diskMb` (and begins as a writable snapshot of
 * the snapshot subvolume `from`, when given), linked to the host by `net` when given; on any failure
 * nothing of it is left.
 */
export async function startSandbox(d: StartDeps, spec: SandboxSpec, diskMb: number, from?: string, net?: SandboxLink & { record: (dir: string) => void }): Promise<RuntimeRef> {
  return (await launch(d, spec, diskMb, from, net)).ref
}

/**
 * startSandbox for one command (runOnce): no exec socket; the command's request goes out on the helper's
 * RUN_FD with the start itself, and the helper serves it as the sandbox's only exec, then ends the sandbox.
 */
export async function startOneShot(d: StartDeps, spec: SandboxSpec, diskMb: number, oneShot: OneShot, from?: string): Promise<{ ref: RuntimeRef; connection: Socket; prepared: PreparedExec }> {
  const r = await launch(d, spec, diskMb, from, undefined, oneShot)
  return { ref: r.ref, connection: r.connection!, prepared: r.prepared! }
}

async function launch(
  d: StartDeps,
  spec: SandboxSpec,
  diskMb: number,
  from?: string,
  net?: SandboxLink & { record: (dir: string) => void },
  oneShot?: OneShot,
): Promise<{ ref: RuntimeRef; connection?: Socket; prepared?: PreparedExec }> {
  const mark = phaseClock(d.timings)
  const paths = sandboxPaths(d.dataDir, spec.id)
  if (existsSync(paths.dir) || d.cgroups.sandboxDirs(spec.id).some((dir) => existsSync(dir))) {
    throw new RuntimeError('invalid_request', `sandbox ${spec.id} already exists on this host; destroy it first or use a new id`)
  }
  const plan = planMounts({ spec, paths, hostTemplateRoot: d.hostTemplateRoot, hostLayout: d.hostLayout, layers: resolveLayers(spec.template) })
  if (spec.template.rootfs !== 'host' && !existsSync(spec.template.rootfs)) {
    throw new RuntimeError('invalid_request', `template ${spec.template.name}: rootfs ${spec.template.rootfs} does not exist; build the template again`)
  }
  try {
    // btrfs: the helper makes paths.dir a subvolume (empty, or a snapshot of `from`) limited to diskMb, and the
    // layer's dirs in it; reflink/copy: the driver makes the dir (a clone of `from`'s upper/) here.
    const disk = await d.layers.prepare(paths.dir, diskMb * 1_048_576, plan, UID_BASE, from)
    mark('layer')
    const cgroups = d.cgroups.create(spec.id, spec.resources)
    const prepared = oneShot ? prepareExec(oneShot.exec, spec.id, oneShot.req) : undefined
    mark('cgroups')
    const execSocket = execSocketPath(paths.dir)
    if (!oneShot && execSocket.startsWith(`${FALLBACK_SOCKET_DIR}/`)) mkdirSync(FALLBACK_SOCKET_DIR, { recursive: true, mode: 0o700 })
    const argv = createArgv({
      id: spec.id,
      plan,
      ...(cgroups.initInto ? { cgroupInto: cgroups.initInto } : {}),
      cgroupProcs: cgroups.init,
      joinProcs: cgroups.supervisor,
      ...(oneShot ? { runFd: RUN_FD } : { execSocket }),
      uidBase: UID_BASE,
      idCount: ID_COUNT,
      ...(disk ? { disk } : {}),
      ...(net ? { net: { hostIf: net.hostIf, sandboxIp: net.sandboxIp, gatewayIp: net.gatewayIp } } : {}),
    })
    const { pid, connection } = await spawnInit(d, spec.id, argv, prepared?.request, () => mark('spawn'))
    mark('helper')
    const startTime = readStartTime(pid)
    if (startTime === undefined) throw new RuntimeError('internal', `sandbox ${spec.id} init (pid ${pid}) exited right after it started`)
    // So a destroy by id alone (after a control-plane crash) still finds the init.
    writeFileSync(join(paths.dir, 'init'), `${pid} ${startTime}\n`)
    net?.record(paths.dir)
    mark('record')
    d.log.debug({ id: spec.id, pid }, 'sandbox started')
    return { ref: { id: spec.id, pid, startTime }, ...(connection && prepared ? { connection, prepared } : {}) }
  } catch (err) {
    await d.destroy(spec.id).catch((e: unknown) => d.log.warn({ id: spec.id, err: messageOf(e) }, 'cleanup after failed start'))
    if (err instanceof RuntimeError) throw err
    throw new RuntimeError('internal', `could not start sandbox ${spec.id}: ${messageOf(err)}`, { cause: err })
  }
}

/**
 * Runs `helper create`; resolves with init's host pid once it is ready for exec. With `request` (a
 * one-shot start) the helper gets a socketpair as fd RUN_FD, the request is sent on it at once, and
 * the connection comes back with the pid.
 */
function spawnInit(d: StartDeps, id: string, argv: string[], request?: Buffer, spawned?: () => void): Promise<{ pid: number; connection?: Socket }> {
  return new Promise((resolve, reject) => {
    // An empty env: init is visible inside, and must not carry the control plane's environment.
    const stdio = request ? (['ignore', 'pipe', 'pipe', 'pipe'] as const) : (['ignore', 'pipe', 'pipe'] as const)
    const child = spawn(d.helperPath, argv, { stdio: [...stdio], env: emptyEnv(), detached: true })
    spawned?.()
    const connection = request ? (child.stdio[RUN_FD] as Socket) : undefined
    if (connection && request) {
      connection.on('error', () => {}) // a helper that failed closes it: reported by its exit below
      connection.write(request)
    }
    let out = ''
    let err = ''
    let settled = false
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    void exited.then(() => {
      if (d.supervisors.get(id) === exited) d.supervisors.delete(id)
    })
    const settle = (fn: () => void) => {
      if (settled) return
      settled = true
      fn()
    }
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const nl = out.indexOf('\n')
      if (nl < 0) return
      const pid = Number(out.slice(0, nl))
      if (Number.isInteger(pid) && pid > 0) d.supervisors.set(id, exited)
      settle(() =>
        Number.isInteger(pid) && pid > 0
          ? resolve({ pid, ...(connection ? { connection } : {}) })
          : reject(new RuntimeError('internal', `tidepool-helper printed ${JSON.stringify(out.slice(0, nl))} instead of a pid`)),
      )
    })
    child.stderr!.on('data', (c: Buffer) => {
      if (err.length < 4096) err += c.toString('utf8')
    })
    child.once('error', (e) =>
      settle(() => {
        connection?.destroy()
        reject(new RuntimeError('runtime_unavailable', `could not run ${d.helperPath}: ${e.message}; run \`npm run build\` to compile it`, { cause: e }))
      }),
    )
    child.once('close', (code, signal) => {
      if (!settled) connection?.destroy()
      settle(() => reject(new RuntimeError('internal', `could not start sandbox ${id}: ${err.trim() || `tidepool-helper exited with ${signal ?? code}`}`)))
      // After "ready" the helper stays as init's supervisor and exits with it (reaping it).
      if (settled) d.log.debug({ id, code, signal }, 'sandbox init exited')
    })
    child.unref()
  })
}
