/** @module runtime/local/preflight — every kernel feature and privilege the local runtime needs, present or missing. */
import { accessSync, constants, existsSync, statfsSync } from 'node:fs'
import { release } from 'node:os'
import { dirname } from 'node:path'
import type { PreflightCheck } from '../runtime.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { v1Controllers, v2Controllers } from './cgroups/layout.js'
import { readText } from './host-files.js'
import { CAP_SYS_ADMIN, effectiveCapabilities } from './proc.js'

const OVERLAYFS_MAGIC = 0x794c7630

export function runPreflight(o: { dataDir: string; helperPath: string; cgroups: Cgroups }): PreflightCheck[] {
  const checks: PreflightCheck[] = []
  const add = (name: string, ok: boolean, detail: string, fix: string) => checks.push(ok ? { name, ok, detail } : { name, ok, detail, fix })

  const uid = process.getuid?.() ?? -1
  const sysAdmin = (effectiveCapabilities() & (1n << CAP_SYS_ADMIN)) !== 0n
  add(
    'privileges',
    uid === 0 && sysAdmin,
    uid === 0 ? (sysAdmin ? 'running as root with CAP_SYS_ADMIN' : 'running as root but without CAP_SYS_ADMIN') : `running as uid ${uid}; sandboxes need root (namespaces, overlay mounts, cgroups)`,
    'run tidepool as root (sudo tidepool …), or in a container started with --privileged',
  )

  const nsKinds = ['mnt', 'pid', 'net', 'ipc', 'uts', 'cgroup', 'user']
  const missingNs = nsKinds.filter((k) => !existsSync(`/proc/self/ns/${k}`))
  add(
    'namespaces',
    missingNs.length === 0,
    missingNs.length === 0 ? 'mount (pivot_root), pid, net, ipc, uts, cgroup and user namespaces are available' : `the kernel lacks ${missingNs.join(', ')} namespaces`,
    'use a kernel built with CONFIG_NAMESPACES and the per-kind options (Linux 4.6+)',
  )

  const maxUserNs = Number(readText('/proc/sys/user/max_user_namespaces')?.trim() ?? '0')
  add(
    'user namespaces',
    maxUserNs > 0,
    maxUserNs > 0 ? `user.max_user_namespaces = ${maxUserNs}` : 'user.max_user_namespaces is 0 (or missing): root inside a sandbox would be root outside',
    'sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)',
  )

  const overlay = /\boverlay$/m.test(readText('/proc/filesystems') ?? '')
  add('overlayfs', overlay, overlay ? 'overlay is in /proc/filesystems' : 'overlay is not in /proc/filesystems', 'modprobe overlay (and add it to /etc/modules-load.d/)')

  const fsType = statfsType(o.dataDir)
  add(
    'data dir',
    fsType !== undefined && fsType !== OVERLAYFS_MAGIC,
    fsType === undefined
      ? `cannot stat ${o.dataDir} or any parent`
      : fsType === OVERLAYFS_MAGIC
        ? `${o.dataDir} is on overlayfs, which cannot hold a sandbox's writable layer`
        : `${o.dataDir} can hold overlay upper layers`,
    'set TIDEPOOL_HOME to a directory on ext4, xfs, btrfs or tmpfs (in Docker: a volume)',
  )

  const problems = new Map(o.cgroups.problems().map((p) => [p.name, p]))
  const version = o.cgroups.version
  if (version === 'none') {
    const p = problems.get('cgroups')!
    add('cgroups', false, p.detail, p.fix)
  } else {
    const names = version === 1 ? v1Controllers : v2Controllers
    for (const c of names) {
      const p = problems.get(`cgroup ${c}`)
      const where = c === 'freezer' && o.cgroups.cgroup2Tree ? `cgroup2 freezer (cgroup.freeze) at ${o.cgroups.cgroup2Tree}` : `cgroup v${version} ${c} controller at ${o.cgroups.mountOf(c)}`
      add(`cgroup ${c}`, !p, p ? p.detail : `${where}${c === 'freezer' ? ' (pause/resume)' : ''}`, p?.fix ?? '')
    }
    if (version === 2) add('cgroup freezer', true, 'cgroup v2 freezer (cgroup.freeze) is built in', '')
  }

  const seccomp = /^Seccomp:/m.test(readText('/proc/self/status') ?? '') && (readText('/proc/sys/kernel/seccomp/actions_avail') ?? 'errno').includes('errno')
  add('seccomp', seccomp, seccomp ? 'seccomp filters with errno actions are supported' : 'the kernel lacks seccomp filters', 'use a kernel built with CONFIG_SECCOMP_FILTER')

  // Not a requirement: without it every exec pays a cgroup migration (an RCU grace period, ~10 ms).
  const tree = o.cgroups.cgroup2Tree
  const [major = 0, minor = 0] = release()
    .split('.')
    .map((n) => parseInt(n, 10))
  const cloneInto = major > 5 || (major === 5 && minor >= 7)
  checks.push({
    name: 'fast exec',
    ok: true,
    detail:
      tree && cloneInto
        ? `commands are cloned straight into their exec cgroup in the cgroup2 tree at ${tree} (no cgroup migration per exec)`
        : `each exec migrates into its cgroups (~10 ms more per command): ${tree ? `Linux ${release()} lacks clone3 CLONE_INTO_CGROUP (5.7+)` : 'no cgroup2 tree is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified on a v1 host)'}`,
  })

  let helperOk = false
  try {
    accessSync(o.helperPath, constants.X_OK)
    helperOk = true
  } catch {
    // missing or not executable
  }
  add(
    'helper',
    helperOk,
    helperOk ? `${o.helperPath} is built` : `${o.helperPath} is missing or not executable`,
    'run `npm run build` (it compiles the helper from native/*.c; needs a C compiler: apt-get install gcc)',
  )
  return checks
}

/** statfs type of a path or of its nearest existing parent. */
function statfsType(path: string): number | undefined {
  for (let p = path; ; p = dirname(p)) {
    try {
      return Number(statfsSync(p).type)
    } catch {
      if (p === dirname(p)) return undefined
    }
  }
}
