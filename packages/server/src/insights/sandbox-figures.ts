/** @module insights/sandbox-figures — a run that executed in tidepool sandboxes gets their cgroup figures joined to its infra facts. */
import type { InfraMetrics } from '@tidepool/sdk'
import { parseJson } from './runs.js'
import type { RunRow } from './tables.js'

/** One sandbox's cgroup figures (the sandboxes area's SandboxFigures, as main.ts hands them over). */
export interface RunSandboxFigures {
  sandboxId: string
  /** Read as the sandbox was destroyed, else live. */
  final: boolean
  cpuSeconds: number
  memoryPeakBytes: number
  memoryLimitBytes: number
  oomKills: number
  pidsLimit: number
  pidsLimitHits?: number | undefined
  cpuLimit?: number | undefined
}

/** What insights asks of the sandboxes (main.ts adapts the sandbox service and the audit log to it). */
export interface SandboxFiguresPort {
  /** Sandboxes created in calls that named this run (CallMeta runId in the audit log), beyond infra.sandboxId. */
  sandboxesOfRun?(project: string, runId: string): Promise<string[]>
  /** Figures of one sandbox of the project, live or as it ended; undefined for an unknown sandbox or none kept. */
  figures(project: string, sandboxId: string): Promise<RunSandboxFigures | undefined>
}

/** At most this many sandboxes are read for one run (a run's sandboxes, not a project's). */
export const maxSandboxesPerRun = 32

/** Which sandboxes a run used: infra.sandboxId first, then the ones its calls created. */
export async function sandboxesOfRun(port: SandboxFiguresPort, project: string, runId: string, infra: InfraMetrics | undefined): Promise<string[]> {
  const ids = new Set<string>()
  if (typeof infra?.sandboxId === 'string') ids.add(infra.sandboxId)
  for (const id of (await port.sandboxesOfRun?.(project, runId)) ?? []) ids.add(id)
  return [...ids].slice(0, maxSandboxesPerRun)
}

/**
 * Infra facts from the sandboxes' figures: CPU-seconds summed; memory peak and percent of the limit from
 * the most starved sandbox; OOM kills and pids-limit hits summed; CPU percent of what the quota allowed over
 * the run's wall time (when known). Facts the CI sent itself stay where they say more (the higher
 * percent, the higher count): the two may count the same kill.
 */
export function joinFigures(infra: InfraMetrics | undefined, figures: readonly RunSandboxFigures[], wallMs: number | undefined): InfraMetrics | undefined {
  if (figures.length === 0) return infra
  let cpuSeconds = 0
  let oomKills = 0
  let pidsLimitHits = 0
  let worst: RunSandboxFigures | undefined
  let worstPct = -1
  let cpuPct = 0
  for (const f of figures) {
    cpuSeconds += f.cpuSeconds
    oomKills += f.oomKills
    pidsLimitHits += f.pidsLimitHits ?? 0
    const pct = f.memoryLimitBytes > 0 ? (f.memoryPeakBytes / f.memoryLimitBytes) * 100 : 0
    if (pct > worstPct) [worst, worstPct] = [f, pct]
    if (wallMs && wallMs > 0 && f.cpuLimit && f.cpuLimit > 0) cpuPct = Math.max(cpuPct, (f.cpuSeconds / ((wallMs / 1000) * f.cpuLimit)) * 100)
  }
  const out: InfraMetrics = { ...infra }
  out.cpuSeconds = round(cpuSeconds)
  out.memoryPeakBytes = worst!.memoryPeakBytes
  out.memoryLimitBytes = worst!.memoryLimitBytes
  out.memoryPct = Math.max(infra?.memoryPct ?? 0, Math.min(100, round(worstPct)))
  out.oomKills = Math.max(infra?.oomKills ?? 0, oomKills)
  out.pidsLimitHits = Math.max(Number(infra?.pidsLimitHits ?? 0), pidsLimitHits)
  if (cpuPct > 0) out.cpuPct = Math.max(infra?.cpuPct ?? 0, Math.min(100, round(cpuPct)))
  out.figuresFrom = figures
    .map((f) => `${f.sandboxId}${f.final ? '' : ' (live)'}`)
    .join(', ')
    .slice(0, 1024)
  return out
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

/** The run's infra facts with its sandboxes' cgroup figures joined (read as the run finishes: live, or kept as a sandbox ended). */
export async function withSandboxFigures(
  port: SandboxFiguresPort,
  project: string,
  row: RunRow,
  infraJson: string | null,
  finishedAt: string,
): Promise<{ infra: string | null; sandboxIds: string[] }> {
  const infra = parseJson<InfraMetrics>(infraJson)
  const sandboxIds = await sandboxesOfRun(port, project, row.id, infra)
  const figures = (await Promise.all(sandboxIds.map((id) => port.figures(project, id)))).filter((f) => f !== undefined)
  if (figures.length === 0) return { infra: infraJson, sandboxIds }
  const wallMs = typeof infra?.durationMs === 'number' ? infra.durationMs : Date.parse(finishedAt) - Date.parse(row.started_at)
  return { infra: JSON.stringify(joinFigures(infra, figures, Number.isFinite(wallMs) ? wallMs : undefined)), sandboxIds }
}
