/** @module data/clone-quota — a project's clone count and disk quotas, checked before a clone or snapshot is made. */
import { quotaExceeded } from '../core/errors.js'
import type { DataContext } from './data-context.js'

/** States of clones a project holds (counted by quotas, listed). */
export const live = ['creating', 'ready', 'stopped']

/**
 * Refuses (quota_exceeded, with the seconds until the project's soonest clone expires as retryAfter) when
 * `add` more clones would pass the project's clone count, or its clones and mirrors already fill its disk quota.
 */
export async function checkCloneQuota(c: Pick<DataContext, 'cfg' | 'db' | 'clock'>, project: string, add: { clones: number }): Promise<void> {
  const limits = { ...c.cfg.quotas.default, ...c.cfg.quotas.projects[project] }
  const rows = await c.db.selectFrom('data_clones').select(['disk_bytes', 'expires_at']).where('project', '=', project).where('state', 'in', live).execute()
  const soonest = rows.reduce((m, r) => Math.min(m, Date.parse(r.expires_at)), Number.POSITIVE_INFINITY)
  const retryAfter = Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - c.clock.now()) / 1000)) : 60
  if (add.clones > 0 && rows.length + add.clones > limits.clones) {
    throw quotaExceeded(`project ${project} has ${rows.length} live clones, its limit is ${limits.clones}; destroy clones or ask an admin to raise data.quotas.projects.${project}.clones`, {
      scope: `data:${project}:clones`,
      limit: limits.clones,
      used: rows.length,
      requested: add.clones,
      retryAfter,
    })
  }
  const mirrors = await c.db.selectFrom('data_mirrors').select('report').where('project', '=', project).execute()
  const usedBytes = rows.reduce((n, r) => n + Number(r.disk_bytes), 0) + mirrors.reduce((n, m) => n + (m.report ? (JSON.parse(m.report) as { bytes: number }).bytes : 0), 0)
  const usedMb = Math.ceil(usedBytes / 1_048_576)
  if (usedMb >= limits.diskMb) {
    throw quotaExceeded(
      `project ${project} holds ${usedMb} MiB of clone and mirror data, its limit is ${limits.diskMb} MiB; destroy clones or snapshots, or ask an admin to raise data.quotas.projects.${project}.diskMb`,
      {
        scope: `data:${project}:diskMb`,
        limit: limits.diskMb,
        used: usedMb,
        retryAfter,
      },
    )
  }
}
