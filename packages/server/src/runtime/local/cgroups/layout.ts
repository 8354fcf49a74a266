/** @module runtime/local/cgroups/layout — which cgroup hierarchies a host has mounted, read from /proc/mounts (pure). */

/** The v1 controllers a sandbox needs (freezer only where no cgroup2 tree is mounted to freeze with). */
export const v1Controllers = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'] as const
export type V1Controller = (typeof v1Controllers)[number]
/** The v1 controllers that limit resources; a sandbox's supervisor joins these, and everything it forks inherits them. */
export const v1Resources = ['memory', 'cpu', 'cpuacct', 'pids'] as const
/** The v2 controllers a sandbox needs (freezing is built into v2). */
export const v2Controllers = ['memory', 'cpu', 'pids'] as const

export type CgroupLayout =
  /** v1 controllers, each at its mount point (co-mounted ones share it); `unified` is a hybrid host's cgroup2 mount. */
  { version: 1; controllers: Partial<Record<V1Controller, string>>; unified?: string } | { version: 2; root: string } | { version: 'none' }

/** Reads the cgroup layout from /proc/mounts text. */
export function detectCgroups(mounts: string): CgroupLayout {
  const controllers: Partial<Record<V1Controller, string>> = {}
  let unified: string | undefined
  for (const line of mounts.split('\n')) {
    const [, mnt, type, opts] = line.split(' ')
    if (!mnt || !opts) continue
    const path = mnt.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
    if (type === 'cgroup2') {
      // Prefer the canonical place when cgroup2 is mounted more than once.
      if (unified === undefined || path.startsWith('/sys/fs/cgroup')) unified = path
    } else if (type === 'cgroup') {
      for (const opt of opts.split(',')) {
        if ((v1Controllers as readonly string[]).includes(opt) && controllers[opt as V1Controller] === undefined) {
          controllers[opt as V1Controller] = path
        }
      }
    }
  }
  if (Object.keys(controllers).length > 0) return unified ? { version: 1, controllers, unified } : { version: 1, controllers }
  if (unified) return { version: 2, root: unified }
  return { version: 'none' }
}
