/**
 * @module runtime/local/cgroups/drivers — the two halves in which cgroup v1 and v2 differ. A v1 host
 * limits with `V1Limits`, a v2 host with `V2Limits`; processes are tracked, frozen and killed by
 * `Cgroup2Tracker` wherever a cgroup2 tree is mounted (v2, and hybrid v1 hosts), else by `V1Tracker`.
 * Every path taken is relative to a hierarchy's mount: `rel` is `<name>/<instance>/<sandbox id>`.
 */
import type { ResourceLimits, SandboxStats } from '../../runtime.js'

export interface CgroupProblem {
  name: string
  detail: string
  fix: string
}

/** What the helper joins when it starts a sandbox (cgroup.procs files). */
export interface SandboxCgroupFiles {
  /** The supervisor (and so init and every exec handler it forks) joins these: the v1 resource cgroups. */
  supervisor: string[]
  /** A cgroup2 directory init is cloned straight into (frozen and killed there), when there is a cgroup2 tree. */
  initInto?: string
  /** cgroup.procs files init alone joins otherwise (pure v1: the freezer cgroup). */
  init: string[]
}

/** Where one exec's command goes. */
export interface ExecCgroup {
  name: string
  /** A cgroup2 directory to clone the command straight into (no migration), when there is a cgroup2 tree. */
  cloneInto?: string
  /** cgroup.procs files the command joins right after fork otherwise (pure v1 hosts). */
  procs: string[]
}

/** Resource limits and their accounting: memory, cpu, pids. */
export interface CgroupLimits {
  readonly version: 1 | 2
  /** Mounts a sandbox has a limits directory in (v1: one per controller mount; v2: the root). */
  readonly hierarchies: readonly string[]
  /** The pids hierarchy: the shared pids ceiling is written there, and every process of a sandbox is listed there. */
  readonly pidsRoot: string | undefined
  /** Controllers that are missing, each with a fix (the freezer is the tracker's). */
  problems(): CgroupProblem[]
  mountOf(controller: string): string | undefined
  /** Makes `<base>/<parent>` ready for sandboxes (v2: controllers enabled for the children on the way). */
  prepare(base: string, parent: string): void
  /** cgroup.procs files the supervisor joins (v1: the resource cgroups; v2: none, init is cloned in). */
  supervisorProcs(rel: string): string[]
  /** Writes limits; `currentLimit` (a live sandbox's memory limit) orders the v1 memory writes. Throws errno errors. */
  write(rel: string, limits: ResourceLimits, currentLimit: number | undefined): void
  memoryUsage(rel: string): number | undefined
  memoryLimit(rel: string): number | undefined
  /** Usage and limits, or undefined when the sandbox's cgroup is gone. */
  usage(rel: string): Omit<SandboxStats, 'oomKills'> | undefined
  oomKills(rel: string): number
}

/** Where a sandbox's processes are tracked (exec cgroups), frozen and killed. */
export interface CgroupTracker {
  /** The hierarchy exec cgroups are made in. */
  readonly root: string
  /** The cgroup2 mount, when this tracker uses one. */
  readonly cgroup2Tree: string | undefined
  /** Where freezing happens (for doctor). */
  readonly freezerMount: string | undefined
  /** Mounts a sandbox has a tracking directory in. */
  readonly hierarchies: readonly string[]
  problems(): CgroupProblem[]
  /** How init enters the sandbox's tracking cgroup. */
  placeInit(rel: string): Pick<SandboxCgroupFiles, 'initInto' | 'init'>
  /** How one exec's command enters exec cgroup `name`. */
  execCgroup(rel: string, name: string): ExecCgroup
  /** The directory whose cgroup.kill ends everything under `rel`, if the tracker has one. */
  killDir(rel: string): string | undefined
  /** A frozen v1 task ignores SIGKILL until thawed: what lets the ones in `dir` die without thawing the rest. */
  releaseFrozen(rel: string, dir: string): (() => void) | undefined
  /** 'frozen' (also while freezing), 'thawed', or undefined when the cgroup is gone. */
  state(rel: string): 'frozen' | 'thawed' | undefined
  /** Throws ENOENT when the cgroup is gone. */
  setFrozen(rel: string, frozen: boolean): void
}
