/** @module runtime/local/start-sandbox — create: a sandbox's cgroups and layer, then `helper create` until its init is ready for exec. */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { emptyEnv } from '../../core/child-env.js'
import type { RuntimeRef, SandboxSpec } from '../runtime.js'
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
}

/**
 * Starts a checked spec whose writable layer may take `diskMb` (and begins as a writable snapshot of
 * the snapshot subvolume `from`, when given), linked to the host by `net` when given; on any failure
 * nothing of it is left.
 */
export async function startSandbox(d: StartDeps, spec: SandboxSpec, diskMb: number, from?: string, net?: SandboxLink & { record: (dir: string) => void }): Promise<RuntimeRef> {
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
    const cgroups = d.cgroups.create(spec.id, spec.resources)
    const execSocket = execSocketPath(paths.dir)
    if (execSocket.startsWith(`${FALLBACK_SOCKET_DIR}/`)) mkdirSync(FALLBACK_SOCKET_DIR, { recursive: true, mode: 0o700 })
    const argv = createArgv({
      id: spec.id,
      plan,
      ...(cgroups.initInto ? { cgroupInto: cgroups.initInto } : {}),
      cgroupProcs: cgroups.init,
      joinProcs: cgroups.supervisor,
      execSocket,
      uidBase: UID_BASE,
      idCount: ID_COUNT,
      ...(disk ? { disk } : {}),
      ...(net ? { net: { hostIf: net.hostIf, sandboxIp: net.sandboxIp, gatewayIp: net.gatewayIp } } : {}),
    })
    const pid = await spawnInit(d, spec.id, argv)
    const startTime = readStartTime(pid)
    if (startTime === undefined) throw new RuntimeError('internal', `sandbox ${spec.id} init (pid ${pid}) exited right after it started`)
    // So a destroy by id alone (after a control-plane crash) still finds the init.
    writeFileSync(join(paths.dir, 'init'), `${pid} ${startTime}\n`)
    net?.record(paths.dir)
    d.log.debug({ id: spec.id, pid }, 'sandbox started')
    return { id: spec.id, pid, startTime }
  } catch (err) {
    await d.destroy(spec.id).catch((e: unknown) => d.log.warn({ id: spec.id, err: messageOf(e) }, 'cleanup after failed start'))
    if (err instanceof RuntimeError) throw err
    throw new RuntimeError('internal', `could not start sandbox ${spec.id}: ${messageOf(err)}`, { cause: err })
  }
}

/** Runs `helper create`; resolves with init's host pid once it is ready for exec. */
function spawnInit(d: StartDeps, id: string, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // An empty env: init is visible inside, and must not carry the control plane's environment.
    const child = spawn(d.helperPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: emptyEnv(), detached: true })
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
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const nl = out.indexOf('\n')
      if (nl < 0) return
      const pid = Number(out.slice(0, nl))
      if (Number.isInteger(pid) && pid > 0) d.supervisors.set(id, exited)
      settle(() => (Number.isInteger(pid) && pid > 0 ? resolve(pid) : reject(new RuntimeError('internal', `tidepool-helper printed ${JSON.stringify(out.slice(0, nl))} instead of a pid`))))
    })
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4096) err += c.toString('utf8')
    })
    child.once('error', (e) => settle(() => reject(new RuntimeError('runtime_unavailable', `could not run ${d.helperPath}: ${e.message}; run \`npm run build\` to compile it`, { cause: e }))))
    child.once('close', (code, signal) => {
      settle(() => reject(new RuntimeError('internal', `could not start sandbox ${id}: ${err.trim() || `tidepool-helper exited with ${signal ?? code}`}`)))
      // After "ready" the helper stays as init's supervisor and exits with it (reaping it).
      if (settled) d.log.debug({ id, code, signal }, 'sandbox init exited')
    })
    child.unref()
  })
}
