/** @module runtime/gvisor/oci-spec — the OCI runtime spec (config.json) of one gVisor sandbox, and of one exec (pure: no I/O). */
import type { ResourceLimits } from '../runtime.js'
import type { HostLayoutEntry } from '../local/mounts.js'

/** The subset of an OCI mount runsc reads. */
export interface OciMount {
  destination: string
  type: string
  source: string
  options: string[]
}

export interface OciProcess {
  args: string[]
  env: string[]
  cwd: string
  user: { uid: number; gid: number; additionalGids?: number[] }
  noNewPrivileges: boolean
  capabilities: { bounding: string[]; effective: string[]; permitted: string[] }
}

/** What one sandbox's bundle is made of (decided by GvisorRuntime from its SandboxSpec). */
export interface BundlePlan {
  id: string
  /** Host directory of the sandbox's root: the host template's skeleton or the template's rootfs folder (read-only; writes stay in gVisor's memory overlay). */
  root: string
  /** 'host' template: the host's system directories bound read-only (/usr and non-merged /bin, /lib…). */
  hostLayout?: HostLayoutEntry[]
  /** denyRead paths resolved on the host: a directory is hidden by an empty read-only tmpfs, a file by `emptyFile`. */
  masks: { path: string; kind: 'dir' | 'file' }[]
  /** An empty read-only host file, bound over masked files. */
  emptyFile: string
  /** Host cgroup path of the sandbox (runsc makes it in every v1 hierarchy, or in cgroup2). */
  cgroupsPath: string
  resources: ResourceLimits
}

/** Root inside keeps the capabilities a container runtime gives by default (in gVisor's kernel, not the host's). */
const rootCaps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_AUDIT_WRITE']

/** The default user (uid/gid 1000, as in the local runtime's passwd). */
export const USER_ID = 1000

/** CFS period of the cpu limit (the local runtime's too). */
const CPU_PERIOD_US = 100_000

/**
 * Threads and stub processes the runsc sandbox itself runs on the host besides one stub per guest
 * process (systrap): the sentry's Go threads, the gofer, the control server. The host pids limit is
 * resources.pids plus this, so the guest's own processes are what the limit bounds.
 */
export const SENTRY_TASK_HEADROOM = 192

/**
 * PID 1 of the sandbox: waits forever and so reaps what is orphaned onto it (dash's wait reaps any
 * child). What it waits on is a child shell that stopped itself: it never ends and runs nothing (no
 * `sleep` that a command listing processes would mistake for its own). TERM ends it, and the sandbox.
 */
export const INIT_SCRIPT = 'trap "exit 0" TERM; sh -c \'kill -STOP $$\' & while :; do wait; done'

export function processSpec(args: string[], env: Record<string, string>, user: 'user' | 'root'): OciProcess {
  const caps = user === 'root' ? rootCaps : []
  const id = user === 'root' ? 0 : USER_ID
  return {
    args,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd: '/',
    user: { uid: id, gid: id },
    noNewPrivileges: true,
    capabilities: { bounding: caps, effective: caps, permitted: caps },
  }
}

/** The host limits of one sandbox: memory and cpu as asked; pids with the sentry's headroom (see above). */
export function linuxResources(l: ResourceLimits) {
  return {
    memory: { limit: l.memoryMb * 1_048_576 },
    cpu: { quota: Math.max(1000, Math.round(l.cpu * CPU_PERIOD_US)), period: CPU_PERIOD_US },
    pids: { limit: l.pids + SENTRY_TASK_HEADROOM },
  }
}

/** config.json of the sandbox's bundle: init as PID 1, a read-only root, no network namespace shared with the host. */
export function bundleSpec(plan: BundlePlan): Record<string, unknown> {
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
  ]
  if (plan.hostLayout) {
    mounts.push({ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] })
    for (const e of plan.hostLayout) if (e.kind === 'dir') mounts.push({ destination: `/${e.name}`, type: 'bind', source: `/${e.name}`, options: ['rbind', 'ro', 'nosuid', 'nodev'] })
  }
  for (const m of plan.masks) {
    mounts.push(
      m.kind === 'dir'
        ? { destination: m.path, type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'size=4k'] }
        : { destination: m.path, type: 'bind', source: plan.emptyFile, options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] },
    )
  }
  return {
    ociVersion: '1.0.2',
    process: processSpec(['/bin/sh', '-c', INIT_SCRIPT], { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, 'root'),
    root: { path: plan.root, readonly: true },
    hostname: plan.id,
    mounts,
    linux: {
      cgroupsPath: plan.cgroupsPath,
      resources: linuxResources(plan.resources),
      // gVisor's kernel gives every sandbox its own pid, mount, ipc, uts and network stack; with
      // --network=none the stack has loopback only.
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }],
    },
  }
}
