/** @module sandboxes/reset — a sandbox put back to its start (or to a snapshot) in place: same id, files replaced, processes restarted. */
import type { Principal, SandboxInfo as Sandbox } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { ResourceLimits } from '../runtime/runtime.js'
import { refOf } from './sandbox-row.js'
import type { SandboxService } from './sandboxes.js'
import { snapshotLockKey } from './snapshots.js'
import { execEnv, parseTemplateRef, startTemplateCommand } from './template-start.js'

/**
 * Under the sandbox's lock: destroy its runtime instance and start a new one with the same id, from its
 * template (or the snapshot it started from), or from snapshot `to`. State events: starting (resetting)
 * → running (reset). Background commands end with the old instance (the caller forgets them).
 * When the new start fails the sandbox is stopped (reset_failed): its old files are gone by then.
 */
export async function resetSandbox(svc: SandboxService, p: Pick<Principal, 'project' | 'tokenId'>, id: string, to?: string): Promise<Sandbox> {
  const { runtime, log } = svc.deps
  const states = svc.states
  // Back to a template needs no snapshots; to a snapshot (given, or the one it started from) does.
  if (to !== undefined) svc.snapshots.runtimeSnapshots('resets to a snapshot')
  const work = () =>
    states.lock.run(id, async () => {
      const row = await svc.row(p, id)
      states.mustBeLive(row, 'reset')
      const target = to ?? row.parent_snapshot ?? undefined
      if (target) svc.snapshots.runtimeSnapshots('resets to a snapshot')
      if (to !== undefined) {
        const snap = await svc.snapshots.row(p, to)
        if (snap.template !== row.template) {
          throw new AppError(
            'invalid_request',
            `snapshot ${to} was taken on template ${snap.template}, sandbox ${id} runs ${row.template}; reset to a snapshot of the same template, or create a sandbox from it`,
            [{ path: 'to', message: 'other template' }],
          )
        }
      }
      const template = row.template_ref ? parseTemplateRef(row.template_ref) : await svc.deps.templates?.resolve(p.project, row.template)
      if (!template) throw new AppError('conflict', `sandbox ${id} has no recorded template build to reset to; create a new one`)
      const resources = JSON.parse(row.resources) as ResourceLimits
      const denyRead = JSON.parse(row.deny_read) as string[]
      await states.transition(row, 'starting', 'resetting', p.tokenId, {}, { resetTo: target ?? 'template' })
      const starting = { ...row, state: 'starting' }
      // Read before destroy: the sandbox comes back at the same isolation level.
      const isolation = runtime.isolationOf?.(id)
      await runtime.destroy(id, refOf(row))
      try {
        // Back to the start: the template's last layer (a template's files live in its snapshot) or empty.
        const from = target ?? template.fromSnapshot
        const ref = await runtime.start({ id, template: template.spec, resources, denyRead, ...(from ? { fromSnapshot: from } : {}), ...(isolation ? { isolation } : {}) })
        if (template.start) await startTemplateCommand(runtime, ref, template, { ...execEnv(id, template.user ?? 'user'), ...(JSON.parse(row.envs) as Record<string, string>) })
        await states.transition(starting, 'running', 'reset', p.tokenId, { runtime_ref: JSON.stringify(ref) }, { resetTo: target ?? 'template' })
        states.watch(row, ref)
      } catch (err) {
        await runtime.destroy(id).catch((e: unknown) => log.warn({ err: e, id }, 'cleanup after a failed reset'))
        await states.transition(starting, 'stopped', 'reset_failed', p.tokenId, {}, { detail: (err as Error).message })
        throw err
      }
    })
  // A reset to a snapshot holds it (like a create from it) so a delete cannot pass in between.
  await (to ? states.lock.run(snapshotLockKey(to), work) : work())
  return svc.get(p, id)
}
