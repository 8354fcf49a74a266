/** @module runtime/local/helper-args — renders the argv of native/tidepool-helper (pure). */
import type { MountPlan } from './mounts.js'

export interface CreateArgs {
  id: string
  plan: MountPlan
  /** cgroup.procs files the init joins before it sets anything up (one per hierarchy). */
  cgroupProcs: string[]
  uidBase: number
  idCount: number
}

/** `tidepool-helper create …` (without the helper path). */
export function createArgv(a: CreateArgs): string[] {
  const argv = ['create', '--id', a.id, '--root', a.plan.root]
  for (const o of a.plan.overlays) argv.push('--overlay', [o.target, ...o.lowers, o.upper, o.work].join(':'))
  for (const b of a.plan.binds) argv.push('--bind', `${b.source}:${b.target}${b.readOnly ? ':ro' : ''}`)
  for (const m of a.plan.masks) argv.push('--mask', m)
  for (const f of a.cgroupProcs) argv.push('--cgroup-procs', f)
  argv.push('--uid-base', String(a.uidBase), '--id-count', String(a.idCount))
  return argv
}

export interface ExecArgs {
  /** Host pid of the sandbox's init. */
  pid: number
  cgroupProcs: string[]
  uid: number
  gid: number
  cwd: string
  /** fd on which the helper reports setup failures as "<code>: <message>". */
  statusFd?: number
  cmd: string[]
}

/** `tidepool-helper exec …` (without the helper path). The command's env is the helper's own env. */
export function execArgv(a: ExecArgs): string[] {
  const argv = ['exec', '--pid', String(a.pid)]
  for (const f of a.cgroupProcs) argv.push('--cgroup-procs', f)
  argv.push('--uid', String(a.uid), '--gid', String(a.gid), '--cwd', a.cwd)
  if (a.statusFd !== undefined) argv.push('--status-fd', String(a.statusFd))
  argv.push('--', ...a.cmd)
  return argv
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

/** Exit code of `helper exec` when it could not start the command (details on the status fd), and of
 * `helper mount|umount` on any failure (details on stderr), each as "<code>: <message>". */
export const EXEC_SETUP_FAILED = 125
