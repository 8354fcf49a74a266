/** @module sandboxes/fork — N new sandboxes with exactly a sandbox's files: a fork-point snapshot, then N starts from it. */
import type { Principal, SandboxInfo as Sandbox } from '@tidepool/sdk'
import { AppError, codeOf } from '../core/errors.js'
import type { ResourceLimits } from '../runtime/runtime.js'
import { checkQuota } from './quotas.js'
import type { CreateSandbox, SandboxService } from './sandboxes.js'

/**
 * The fork point is kept (labelled fork=true, `fork_point`): it is what a fork's reset goes back to, and
 * retention deletes it once no live sandbox started from it, so nothing leaks. The quota is checked for
 * all `count` before anything is made; a start that fails destroys the ones started (and the fork point)
 * and reports which failed. Processes are not carried over.
 */
export async function forkSandbox(
  svc: SandboxService,
  p: Principal,
  id: string,
  input: { count: number; metadata?: Record<string, string> | undefined },
): Promise<{ items: Sandbox[]; snapshotId: string }> {
  const { config } = svc.deps
  svc.snapshots.runtimeSnapshots('forks')
  const parent = await svc.row(p, id)
  svc.states.mustBeLive(parent, 'fork')
  const resources = JSON.parse(parent.resources) as ResourceLimits
  // All or nothing against the quota: refuse the whole fork before snapshotting (the creates check again).
  const used = await svc.usage(p.project)
  checkQuota(
    config,
    p.project,
    used,
    { sandboxes: input.count, memoryMb: resources.memoryMb * input.count, cpu: resources.cpu * input.count, pids: resources.pids * input.count, diskMb: (resources.diskMb ?? 0) * input.count },
    1,
  )
  // Marked a fork point only once the forks hold it: retention must not take it while they start.
  const point = await svc.snapshots.create(p, id, { labels: { fork: 'true', forkOf: id } })
  const lifecycle = JSON.parse(parent.lifecycle) as CreateSandbox['lifecycle']
  const create: CreateSandbox = {
    template: parent.template,
    fromSnapshot: point.id,
    timeoutMs: Number(parent.timeout_ms),
    lifecycle,
    resources,
    filesystem: { denyRead: JSON.parse(parent.deny_read) as string[] },
    // The parent's envs already hold its template's env (the create merges them again, unchanged).
    envs: JSON.parse(parent.envs) as Record<string, string>,
    metadata: input.metadata ?? (JSON.parse(parent.metadata) as Record<string, string>),
  }
  const settled = await Promise.allSettled(Array.from({ length: input.count }, () => svc.create(p, create)))
  const made = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ index: i, error: s.reason as unknown }] : []))
  if (failed.length === 0) {
    await svc.snapshots.markForkPoint(point.id)
    return { items: made, snapshotId: point.id }
  }
  for (const sbx of made) await svc.destroy(p, sbx.id, 'fork_failed').catch((err: unknown) => svc.deps.log.warn({ err, id: sbx.id }, 'cleanup after a failed fork'))
  await svc.snapshots.delete(p, point.id).catch((err: unknown) => svc.deps.log.warn({ err, id: point.id }, 'fork point not deleted after a failed fork; retention will'))
  const first = failed[0]!.error
  const code = codeOf(first)
  throw new AppError(
    code === 'internal' ? 'internal' : code,
    `fork of sandbox ${id}: ${failed.length} of ${input.count} starts failed (first: ${(first as Error).message}); the ${made.length} started were destroyed and nothing is left`,
    failed.map((f) => ({ path: `count[${f.index}]`, message: `${codeOf(f.error)}: ${(f.error as Error).message}` })),
    { cause: first },
  )
}
