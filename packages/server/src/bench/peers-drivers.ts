/**
 * @module bench/peers-drivers — each peer of the peers benchmark behind one small shape: start a
 * sandbox, run `true` in it, destroy it, and (where the peer has one) a one-shot run. Every peer is
 * driven through its own interface (CLI or library), with limits as close to tidepool's as it has.
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Client } from '@tidepool/sdk'
import { childEnv, hostPath } from '../core/child-env.js'
import { sh } from './peers-setup.js'

/** A sandbox of a peer that outlives one command. */
export interface PeerSandbox {
  execTrue(): Promise<void>
  destroy(): Promise<void>
}

export interface Peer {
  name: string
  /** What differs from tidepool's model, printed with its figures (e.g. no persistent sandbox). */
  note?: string
  start(): Promise<PeerSandbox>
  /** One isolated command, nothing left after. */
  oneShot?(): Promise<void>
  close(): Promise<void>
}

/** Runs argv with a minimal env and no stdio; resolves on exit 0. */
export function spawnOk(file: string, args: string[], opts: { shell?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv({ PATH: hostPath({ sbin: true }) }), shell: opts.shell ?? false })
    let err = ''
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2000)))
    child.once('error', reject)
    // 'exit', not 'close': a detached container (runc run -d) keeps runc's stderr open for its whole life.
    child.once('exit', (code, signal) => (code === 0 ? resolve() : setTimeout(() => reject(new Error(`${file} exited ${code ?? signal}: ${err.trim()}`)), 20)))
  })
}

export const limits = { memoryMb: 512, pids: 256, cpu: 1 }

/** tidepool through its HTTP API (the SDK's client); `pooled` is a client whose project has a warm pool. */
export function tidepoolPeer(api: Client, pooled: Client): Peer[] {
  const start = async (): Promise<PeerSandbox> => {
    const { id } = await api.createSandbox({})
    return {
      execTrue: async () => {
        const r = await api.exec({ id, cmd: ['true'] })
        if (!('exitCode' in r) || r.exitCode !== 0) throw new Error('tidepool: true failed')
      },
      destroy: () => api.deleteSandbox({ id }),
    }
  }
  const run = (c: Client) => async () => {
    const r = await c.run({ cmd: ['true'] })
    if (r.exitCode !== 0) throw new Error(`tidepool run: true exited ${r.exitCode}`)
  }
  return [
    { name: 'tidepool', start, oneShot: run(api), close: async () => {} },
    { name: 'tidepool (warm pool)', note: 'one-shot runs only: the project has a warm pool of the default template', start, oneShot: run(pooled), close: async () => {} },
  ]
}

const bwrapArgs = (cmd: string[]) => [
  '--ro-bind',
  '/usr',
  '/usr',
  ...['bin', 'lib', 'lib64', 'sbin'].flatMap((l) => ['--symlink', `usr/${l}`, `/${l}`]),
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '--tmpfs',
  '/tmp',
  '--unshare-all',
  '--die-with-parent',
  '--new-session',
  '--',
  ...cmd,
]

/** bubblewrap: no sandbox outlives its command, so every `true` is a new sandbox (and no cgroup limits). */
export function bwrapPeer(): Peer {
  const once = () => spawnOk('bwrap', bwrapArgs(['true']))
  return {
    name: 'bubblewrap',
    note: 'no persistent sandbox: each `true` is a new bwrap; no cgroup limits',
    start: async () => ({ execTrue: once, destroy: async () => {} }),
    oneShot: once,
    close: async () => {},
  }
}

/** runc with an OCI bundle over the shared rootfs: `run -d` a sleeping init, `exec`, `delete -f`. */
export async function runcPeer(dir: string): Promise<Peer> {
  const bundle = join(dir, 'runc-bundle')
  await sh('mkdir', ['-p', bundle])
  await sh('runc', ['spec', '--bundle', bundle])
  writeOciConfig(join(bundle, 'config.json'), join(dir, 'rootfs'))
  let seq = 0
  const live = new Set<string>()
  const destroy = async (id: string) => {
    await sh('runc', ['delete', '-f', id])
    live.delete(id)
  }
  return {
    name: 'runc',
    start: async () => {
      const id = `tpbench-${process.pid}-${seq++}`
      live.add(id)
      await spawnOk('runc', ['run', '-d', '--bundle', bundle, id])
      return { execTrue: () => spawnOk('runc', ['exec', id, 'true']), destroy: () => destroy(id) }
    },
    close: async () => {
      for (const id of [...live]) await destroy(id).catch(() => {})
    },
  }
}

/** The `runc spec` default, made like tidepool's sandbox: read-only root over the host's /usr, the same limits. */
function writeOciConfig(file: string, rootfs: string): void {
  const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>
  c.process.terminal = false
  c.process.args = ['sleep', 'infinity']
  c.root = { path: rootfs, readonly: true }
  c.hostname = 'sandbox'
  c.mounts.push({ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] }, { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] })
  c.linux.resources = { ...c.linux.resources, memory: { limit: limits.memoryMb * 2 ** 20 }, pids: { limit: limits.pids }, cpu: { quota: limits.cpu * 100_000, period: 100_000 } }
  writeFileSync(file, JSON.stringify(c, null, 2))
}

/** podman (with runc: crun refuses this host's hybrid cgroups) over the same rootfs, no image pull. */
export function podmanPeer(dir: string): Peer {
  const global = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none']
  // podman's defaults for root (nofile and nproc at 1Mi) exceed this host's hard limits, which runc may not raise.
  const ulimits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096']
  let seq = 0
  const live = new Set<string>()
  const destroy = async (id: string) => {
    await sh('podman', [...global, 'rm', '-f', '-t', '0', id])
    live.delete(id)
  }
  return {
    name: 'podman',
    start: async () => {
      const id = `tpbench-${process.pid}-${seq++}`
      live.add(id)
      const lim = ['--memory', `${limits.memoryMb}m`, '--pids-limit', String(limits.pids), '--cpus', String(limits.cpu)]
      await spawnOk('podman', [
        ...global,
        'run',
        '-d',
        '--name',
        id,
        '--network',
        'none',
        '--log-driver',
        'none',
        '--read-only',
        ...ulimits,
        ...lim,
        '-v',
        '/usr:/usr:ro',
        '--rootfs',
        join(dir, 'rootfs'),
        'sleep',
        'infinity',
      ])
      return { execTrue: () => spawnOk('podman', [...global, 'exec', id, 'true']), destroy: () => destroy(id) }
    },
    close: async () => {
      for (const id of [...live]) await destroy(id).catch(() => {})
    },
  }
}

interface SandboxManagerLike {
  initialize(config: unknown): Promise<void>
  wrapWithSandbox(cmd: string): Promise<string>
  reset(): Promise<void>
}

/** sandbox-runtime (srt) as a library: initialised once (its proxies), then each command is wrapped and spawned. */
export async function sandboxRuntimePeer(entry: string): Promise<Peer> {
  const pkg = JSON.parse(readFileSync(join(entry, 'package.json'), 'utf8')) as { main?: string; exports?: unknown }
  const main = typeof pkg.main === 'string' ? pkg.main : 'dist/index.js'
  const mod = (await import(pathToFileURL(join(entry, main)).href)) as { SandboxManager: SandboxManagerLike }
  const m = mod.SandboxManager
  await m.initialize({ network: { allowedDomains: [], deniedDomains: [] }, filesystem: { denyRead: [], allowWrite: [], denyWrite: [] } })
  const once = async () => spawnOk(await m.wrapWithSandbox('true'), [], { shell: true })
  await once() // fails here (and the peer is skipped with the reason) when its Linux requirements are missing
  return {
    name: 'sandbox-runtime',
    note: 'no persistent sandbox: each `true` is wrapped and spawned anew (its proxies start once)',
    start: async () => ({ execTrue: once, destroy: async () => {} }),
    oneShot: once,
    close: () => m.reset(),
  }
}
