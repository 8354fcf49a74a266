/** @module runtime/local/helper-args — renders the argv of native/tidepool-helper (pure). */
import type { MountPlan } from './mounts.js'

export interface CreateArgs {
  id: string
  plan: MountPlan
  /** A cgroup2 directory the init is cloned straight into. */
  cgroupInto?: string
  /** cgroup.procs files the init alone joins before it sets anything up. */
  cgroupProcs: string[]
  /** cgroup.procs files the helper itself joins first, so init and every exec inherit them. */
  joinProcs: string[]
  /** Where the helper, as the sandbox's supervisor, serves execs; or `runFd`: */
  execSocket?: string
  /** A one-shot sandbox (runOnce): its one exec connection is this fd of the helper (a socketpair end). */
  runFd?: number
  uidBase: number
  idCount: number
  /** The sandbox's dir becomes a btrfs subvolume (in the disk pool) whose qgroup may hold at most `bytes`. */
  disk?: { subvolume: string; bytes: number; /** Start as a writable snapshot of this snapshot subvolume. */ from?: string }
  /** A veth pair to the host: host end `hostIf`, eth0 inside with `sandboxIp`/32, default route via `gatewayIp`. */
  net?: { hostIf: string; sandboxIp: string; gatewayIp: string }
}

/** `tidepool-helper create …` (without the helper path). */
export function createArgv(a: CreateArgs): string[] {
  const argv = ['create', '--id', a.id, '--root', a.plan.root]
  for (const o of a.plan.overlays) argv.push('--overlay', [o.target, ...o.lowers, o.upper, o.work].join(':'))
  for (const b of a.plan.binds) argv.push('--bind', `${b.source}:${b.target}${b.readOnly ? ':ro' : ''}`)
  for (const m of a.plan.masks) argv.push('--mask', m)
  if (a.cgroupInto) argv.push('--cgroup-into', a.cgroupInto)
  for (const f of a.cgroupProcs) argv.push('--cgroup-procs', f)
  for (const f of a.joinProcs) argv.push('--join-procs', f)
  if (a.runFd !== undefined) argv.push('--run-fd', String(a.runFd))
  else if (a.execSocket !== undefined) argv.push('--exec-socket', a.execSocket)
  argv.push('--uid-base', String(a.uidBase), '--id-count', String(a.idCount))
  if (a.disk) argv.push('--disk-subvol', a.disk.subvolume, '--disk-bytes', String(a.disk.bytes))
  if (a.disk?.from) argv.push('--disk-from', a.disk.from)
  if (a.net) argv.push('--net', `${a.net.hostIf}:${a.net.sandboxIp}:${a.net.gatewayIp}`)
  return argv
}

/** `tidepool-helper snapshot …`: capture subvolume `source` read-only at `dest` (prints its subvolume id). */
export function snapshotArgv(a: { source: string; dest: string }): string[] {
  return ['snapshot', '--source', a.source, '--dest', a.dest]
}

/** `tidepool-helper subvolume-delete …`: a snapshot, or a sandbox's dir, in O(1) (idempotent). */
export function subvolumeDeleteArgv(path: string): string[] {
  return ['subvolume-delete', '--path', path]
}

export interface MountArgs {
  pid: number
  /** /proc/<pid>/stat starttime: the helper refuses a pid that now names another process. */
  startTime: number
  source: string
  target: string
  readOnly: boolean
}

/** `tidepool-helper mount …` (without the helper path). */
export function mountArgv(a: MountArgs): string[] {
  const argv = ['mount', '--pid', String(a.pid), '--start-time', String(a.startTime), '--source', a.source, '--target', a.target]
  if (a.readOnly) argv.push('--ro')
  return argv
}

/** `tidepool-helper umount …` (without the helper path). */
export function umountArgv(a: { pid: number; startTime: number; target: string }): string[] {
  return ['umount', '--pid', String(a.pid), '--start-time', String(a.startTime), '--target', a.target]
}

/** Exit code of `helper mount|umount|snapshot|subvolume-delete` on any failure, with "<code>: <message>" on stderr. */
export const MOUNT_FAILED = 125
