/** @module insights/runs — run rows ↔ the Run contract, project settings, and the default-branch rule. */
import type { InfraMetrics, InsightsSettings, Run } from '@tidepool/sdk'
import type { InsightsConfig } from './config.js'
import type { InsightsDb, RunRow } from './tables.js'

/** The project's settings, config defaults filled in. */
export async function loadSettings(db: InsightsDb, project: string, cfg: InsightsConfig): Promise<InsightsSettings> {
  const row = await db.selectFrom('insight_settings').select(['body', 'updated_at']).where('project', '=', project).executeTakeFirst()
  const stored = row ? (JSON.parse(row.body) as Partial<InsightsSettings>) : {}
  return {
    mode: stored.mode ?? cfg.remediation.mode,
    abAutoShare: stored.abAutoShare ?? cfg.remediation.abAutoShare,
    allowedActions: stored.allowedActions ?? cfg.remediation.allowedActions,
    ...(stored.defaultBranch ? { defaultBranch: stored.defaultBranch } : {}),
    ...(stored.quarantineOwner ? { quarantineOwner: stored.quarantineOwner } : {}),
    ...(row ? { updatedAt: row.updated_at } : {}),
  }
}

export function isDefaultBranch(branch: string, settings: Pick<InsightsSettings, 'defaultBranch'>, cfg: InsightsConfig): boolean {
  return settings.defaultBranch ? branch === settings.defaultBranch : cfg.defaultBranches.includes(branch)
}

export function parseJson<T>(s: string | null | undefined): T | undefined {
  if (!s) return undefined
  try {
    return JSON.parse(s) as T
  } catch {
    return undefined
  }
}

/** A run row as the API shows it. */
export function runFromRow(r: RunRow, isDefault: boolean): Run {
  const infra = parseJson<InfraMetrics>(r.infra)
  const outcome: Run['outcome'] = r.tests === 0 && r.file_errors === 0 ? 'empty' : r.failed > 0 ? 'red' : r.file_errors > 0 ? 'incomplete' : 'green'
  return {
    id: r.id,
    project: r.project,
    commit: r.commit_sha,
    ...(r.tree ? { tree: r.tree } : {}),
    codeKey: r.code_key,
    branch: r.branch,
    defaultBranch: isDefault,
    attempt: r.attempt,
    variant: parseJson<Record<string, string>>(r.variant) ?? {},
    startedAt: r.started_at,
    ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
    ...(r.pipeline ? { pipeline: r.pipeline } : {}),
    ...(r.pr ? { pr: r.pr } : {}),
    ...(infra ? { infra } : {}),
    ...(r.arm === 'suggest' || r.arm === 'auto' ? { arm: r.arm } : {}),
    status: r.status === 'finished' ? 'finished' : 'running',
    outcome,
    summary: { tests: r.tests, failed: r.failed, flaky: r.flaky, skipped: r.skipped, files: r.files, fileErrors: r.file_errors },
    infraSuspect: r.infra_suspect === 1,
    ...(r.infra_reason ? { infraReason: r.infra_reason } : {}),
  }
}
