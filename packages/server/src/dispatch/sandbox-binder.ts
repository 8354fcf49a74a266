/** @module dispatch/sandbox-binder — gives one sandbox a host directory (a clone's socket dir) and the env vars that point at it. */
import type { SandboxBinder, SandboxBinding } from '../data/binder.js'
import type { EventLog } from '../kit/events.js'
import type { Runtime } from '../runtime/runtime.js'
import { refOf } from '../sandboxes/sandbox-row.js'
import type { SandboxService } from '../sandboxes/sandboxes.js'

/**
 * The data area's SandboxBinder over the runtime: the directory is bind-mounted into that sandbox's own
 * mount namespace (no other sandbox and not the host sees it), and the env vars join the sandbox's envs,
 * so every later command gets DATABASE_URL. Unbinding reverses both; both are idempotent.
 */
export function sandboxBinder(deps: { runtime: Runtime; sandboxes: SandboxService; events: EventLog }): SandboxBinder {
  const system = (project: string) => ({ project, tokenId: 'system:data' })
  return {
    async state(project: string, sandboxId: string): Promise<string | undefined> {
      try {
        return (await deps.sandboxes.row({ project }, sandboxId)).state
      } catch (err) {
        if ((err as { code?: string }).code === 'not_found') return undefined
        throw err
      }
    },
    async bind(project: string, sandboxId: string, b: SandboxBinding): Promise<void> {
      const sbx = await deps.sandboxes.live(system(project), sandboxId)
      await deps.runtime.bindMount(sbx.ref, { source: b.socketDir, target: b.target })
      await deps.sandboxes.changeEnvs(sandboxId, (envs) => ({ ...envs, ...b.envs }))
      await deps.events.emit({ project, sandboxId, kind: 'data_bound', actor: 'system:data', data: { target: b.target, envKeys: Object.keys(b.envs).sort() } })
    },
    async unbind(project: string, sandboxId: string, b: SandboxBinding): Promise<void> {
      const row = await deps.sandboxes.row({ project }, sandboxId).catch(() => undefined)
      if (!row || row.state === 'stopped') return
      if (row.runtime_ref) await deps.runtime.unbindMount(refOf(row), b.target)
      await deps.sandboxes.changeEnvs(sandboxId, (envs) => Object.fromEntries(Object.entries(envs).filter(([k, v]) => b.envs[k] !== v)))
      await deps.events.emit({ project, sandboxId, kind: 'data_unbound', actor: 'system:data', data: { target: b.target } })
    },
  }
}
