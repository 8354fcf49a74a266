/** @module runtime/local/destroy-sandbox — destroy and list (what reconcile compares with the store): every process ended and reaped, nothing left on the host. */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RuntimeRef } from '../runtime.js'
import { SANDBOX_ID_RE } from '../sandbox-checks.js'
import { pollUntil } from './backoff.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { execSocketPath } from './exec-socket.js'
import { readText } from './host-files.js'
import { supervisorOf } from './liveness.js'
import { sandboxPaths } from './mounts.js'
import { isAlive, isReaped } from './proc.js'
import type { LayerDriver } from './layer-driver.js'
import { RuntimeError } from './runtime-error.js'

export interface DestroyDeps {
  dataDir: string
  layers: LayerDriver
  cgroups: Cgroups
  /** The supervisors this process started (reaped when they resolve). */
  supervisors: Map<string, Promise<void>>
}

/** Ends every process of sandbox `id` (the init found by `ref`, or by its init file) and removes its cgroups and layer. */
export async function destroySandbox(d: DestroyDeps, id: string, ref?: RuntimeRef): Promise<void> {
  const paths = sandboxPaths(d.dataDir, id)
  const init = ref && ref.id === id ? ref : readInitFile(join(paths.dir, 'init'))
  const supervisorPid = init ? supervisorOf(init)?.pid : undefined
  // Killing PID 1 of a pid namespace takes every process in it along.
  if (init && isAlive(init.pid, init.startTime)) {
    try {
      process.kill(init.pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }
  }
  // The supervisor reaps init, and it sits in the sandbox's v1 cgroups: let it do that before the kill
  // below ends it too (an init nobody reaps stays a zombie on hosts whose PID 1 does not reap).
  if (init) {
    d.cgroups.thaw(id) // a v1-frozen init dies only once thawed
    await pollUntil(() => isReaped(init.pid, init.startTime), { timeoutMs: 5000, maxDelayMs: 50 })
  }
  // Exec handlers are the supervisor's children in the host pid namespace: end them while the supervisor
  // still lives to reap them, or they stay zombies of a host PID 1 that may never reap.
  if (supervisorPid !== undefined) await endChildren(supervisorPid)
  // Everything in the sandbox's cgroups, including its supervisor and exec handlers (host pid namespace).
  if (!(await d.cgroups.killAll(id))) {
    throw new RuntimeError('internal', `processes of sandbox ${id} survived SIGKILL for 5 s (stuck in uninterruptible I/O?); retry the destroy`)
  }
  // An init leaves its cgroups before it is done dying (it waits for its namespace to empty): wait for
  // it, and for its supervisor to be reaped, so "destroyed" means no process is left at all.
  const supervisor = d.supervisors.get(id)
  if (supervisor) await Promise.race([supervisor, sleep(5000)])
  if (init && !(await pollUntil(() => !isAlive(init.pid, init.startTime), { timeoutMs: 5000, maxDelayMs: 50 }))) {
    throw new RuntimeError('internal', `init of sandbox ${id} (pid ${init.pid}) survived SIGKILL for 5 s; retry the destroy`)
  }
  await d.cgroups.remove(id)
  await rm(execSocketPath(paths.dir), { force: true }) // outside the sandbox's dir when its path was too long
  await d.layers.remove(paths.dir, `delete the writable layer of sandbox ${id}`)
}

/** Ids of every sandbox with cgroups or a layer on this host (this instance's only). */
export function listSandboxes(d: Pick<DestroyDeps, 'dataDir' | 'cgroups'>): string[] {
  const ids = new Set(d.cgroups.list())
  try {
    for (const name of readdirSync(join(d.dataDir, 'sandboxes'))) ids.add(name)
  } catch {
    // no sandbox yet
  }
  return [...ids].filter((id) => SANDBOX_ID_RE.test(id)).sort()
}

function readInitFile(file: string): { pid: number; startTime: number } | undefined {
  const [pid, startTime] = (readText(file) ?? '').trim().split(' ').map(Number)
  return pid && startTime ? { pid, startTime } : undefined
}

/** SIGKILLs a process's children and waits (≤ 2 s) until their parent has reaped them. */
async function endChildren(parent: number): Promise<void> {
  const children = (): number[] => {
    try {
      return readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number)
    } catch {
      return [] // parent gone, or no CONFIG_PROC_CHILDREN: the cgroup kill below still ends them
    }
  }
  for (const pid of children()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }
  }
  await pollUntil(() => children().length === 0, { timeoutMs: 2000, maxDelayMs: 50 })
}
