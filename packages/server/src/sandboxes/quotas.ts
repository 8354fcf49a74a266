/** @module sandboxes/quotas — per-project limits on live sandboxes and stored layers, refused before anything is created. */
import type { Config } from '../config.js'
import { quotaExceeded } from '../core/errors.js'
import type { ResourceLimits } from '../runtime/runtime.js'
import type { Db } from '../store/db.js'
import type { TemplateTables } from '../store/schema.js'

export interface Usage {
  sandboxes: number
  memoryMb: number
  cpu: number
  /** Sum of the pids limits of live sandboxes. */
  pids: number
  /** Sum of the disk limits of live sandboxes (their writable layers), plus what the project's snapshots and template layers hold (storedMb). */
  diskMb: number
}

/**
 * MiB the project's snapshots and template layers hold on disk: the sum of their exclusive bytes (what
 * deleting them frees, as measured when each was captured), rounded up. Counted into the diskMb quota.
 */
export async function storedMb(db: Db, project: string): Promise<number> {
  const t = db.withTables<TemplateTables>()
  const snaps = await t
    .selectFrom('snapshots')
    .select((eb) => eb.fn.sum<number | string | null>('exclusive_bytes').as('b'))
    .where('project', '=', project)
    .executeTakeFirst()
  const layers = await t
    .selectFrom('template_layers')
    .select((eb) => eb.fn.sum<number | string | null>('exclusive_bytes').as('b'))
    .where('project', '=', project)
    .executeTakeFirst()
  return Math.ceil((Number(snaps?.b ?? 0) + Number(layers?.b ?? 0)) / 1_048_576)
}

export function limitsFor(cfg: Config, project: string) {
  return { ...cfg.quotas.default, ...cfg.quotas.projects[project] }
}

/**
 * Throws quota_exceeded when adding `add` (a new sandbox, or a resize delta) to `used` passes a limit.
 * retryAfter is a hint: sandboxes free capacity when they end, so the TTL of the soonest-expiring one.
 */
export function checkQuota(
  cfg: Config,
  project: string,
  used: Usage,
  add: { sandboxes: number; diskMb?: number | undefined } & Pick<ResourceLimits, 'memoryMb' | 'cpu' | 'pids'>,
  retryAfterS: number,
): void {
  const limits = limitsFor(cfg, project)
  const checks: [keyof Usage, number][] = [
    ['sandboxes', add.sandboxes],
    ['memoryMb', add.memoryMb],
    ['cpu', add.cpu],
    ['pids', add.pids],
    ['diskMb', add.diskMb ?? 0],
  ]
  for (const [scope, delta] of checks) {
    if (delta <= 0) continue
    const limit = limits[scope]
    if (used[scope] + delta > limit + 1e-9) {
      throw quotaExceeded(
        `project ${project} would exceed its ${scope} quota: limit ${limit}, in use ${round(used[scope])}, requested ${round(delta)}; destroy sandboxes or ask an admin to raise quotas.projects.${project}.${scope}`,
        { scope: `project:${project}:${scope}`, limit, used: round(used[scope]), requested: round(delta), retryAfter: Math.max(1, Math.ceil(retryAfterS)) },
      )
    }
  }
}

const round = (n: number) => Math.round(n * 100) / 100
