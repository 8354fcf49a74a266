/** @module sandboxes/usage-figures — a sandbox's cgroup figures, live or as it ended, for the feedback loop to join to a CI run. */
import type { SandboxStats } from '../runtime/runtime.js'
import type { SandboxRow } from '../store/schema.js'
import { refOf } from './sandbox-row.js'
import type { SandboxDeps } from './sandbox-states.js'

/** What the cgroup said about one sandbox: while it runs (final false), or read just before destroy. */
export interface SandboxFigures {
  sandboxId: string
  at: string
  /** Read as the sandbox was destroyed (the cgroup is gone now), else read live. */
  final: boolean
  cpuSeconds: number
  memoryPeakBytes: number
  memoryLimitBytes: number
  oomKills: number
  pids: number
  pidsLimit: number
  pidsLimitHits?: number | undefined
  cpuLimit?: number | undefined
}

function figuresOf(sandboxId: string, at: string, final: boolean, s: Partial<SandboxStats>): SandboxFigures | undefined {
  if (typeof s.cpuSeconds !== 'number' || typeof s.memoryPeakBytes !== 'number' || typeof s.memoryLimitBytes !== 'number') return undefined
  return {
    sandboxId,
    at,
    final,
    cpuSeconds: s.cpuSeconds,
    memoryPeakBytes: s.memoryPeakBytes,
    memoryLimitBytes: s.memoryLimitBytes,
    oomKills: Number(s.oomKills ?? 0),
    pids: Number(s.pids ?? 0),
    pidsLimit: Number(s.pidsLimit ?? 0),
    ...(typeof s.pidsLimitHits === 'number' ? { pidsLimitHits: s.pidsLimitHits } : {}),
    ...(typeof s.cpuLimit === 'number' ? { cpuLimit: s.cpuLimit } : {}),
  }
}

/**
 * Kept as a `usage_final` event of the sandbox before its cgroup goes (destroy, TTL): the figures outlive
 * the sandbox. A sandbox the runtime cannot read any more (lost after a crash) has none.
 */
export async function recordFinalUsage(deps: Pick<SandboxDeps, 'runtime' | 'events'>, row: SandboxRow): Promise<void> {
  const s = await deps.runtime.stats(refOf(row)).catch(() => undefined)
  if (!s) return
  const { diskPoolBytes: _p, diskPoolFreeBytes: _f, ...figures } = s
  await deps.events.emit({ project: row.project, sandboxId: row.id, kind: 'usage_final', actor: 'runtime', data: figures as unknown as Record<string, unknown> })
}

/** The figures of a sandbox of the project: read now when it runs, else the ones kept as it ended; undefined when neither exists. */
export async function sandboxFigures(deps: Pick<SandboxDeps, 'runtime' | 'db' | 'clock'>, project: string, sandboxId: string): Promise<SandboxFigures | undefined> {
  const row = await deps.db.selectFrom('sandboxes').selectAll().where('project', '=', project).where('id', '=', sandboxId).executeTakeFirst()
  if (!row) return undefined
  if ((row.state === 'running' || row.state === 'paused') && row.runtime_ref) {
    const s = await deps.runtime.stats(refOf(row)).catch(() => undefined)
    if (s) return figuresOf(sandboxId, new Date(deps.clock.now()).toISOString(), false, s)
  }
  const ev = await deps.db
    .selectFrom('events')
    .select(['at', 'data'])
    .where('project', '=', project)
    .where('sandbox_id', '=', sandboxId)
    .where('kind', '=', 'usage_final')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  if (!ev) return undefined
  return figuresOf(sandboxId, ev.at, true, JSON.parse(ev.data) as Partial<SandboxStats>)
}
