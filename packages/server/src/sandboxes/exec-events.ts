/** @module sandboxes/exec-events — the events a finished command leaves: exec, and oom_killed or disk_full when that is why it failed. */
import type { ExecResult, Principal } from '@tidepool/sdk'
import type { EventLog } from '../kit/events.js'
import type { Runtime } from '../runtime/runtime.js'
import type { LiveSandbox } from './sandbox-row.js'

/** The share of diskMb past which a layer counts as full (qgroups count in extents, so a full layer reads a little under its limit). */
const DISK_FULL_SHARE = 0.98

export async function recordExit(deps: { runtime: Runtime; events: EventLog }, p: Principal, sbx: LiveSandbox, argv: string[], r: ExecResult): Promise<void> {
  const base = { project: sbx.row.project, sandboxId: sbx.row.id, actor: p.tokenId }
  await deps.events.emit({
    ...base,
    kind: 'exec',
    data: {
      cmd: argv[0],
      exitCode: r.exitCode,
      durationMs: r.durationMs,
      timedOut: r.timedOut,
      oomKilled: r.oomKilled,
      truncated: r.truncated,
      ...(r.snapshotId ? { snapshotId: r.snapshotId } : {}),
      ...(r.snapshotError ? { snapshotError: r.snapshotError } : {}),
    },
  })
  if (r.oomKilled) {
    await deps.events.emit({ ...base, kind: 'oom_killed', data: { cmd: argv[0], memoryLimit: JSON.parse(sbx.row.resources).memoryMb } })
  }
  // A failed command in a sandbox whose writable layer is at its diskMb: most likely the cause (EDQUOT).
  if (r.exitCode !== 0) {
    const stats = await deps.runtime.stats(sbx.ref).catch(() => undefined) // a sandbox gone meanwhile has no disk to report
    if (stats?.diskLimitBytes && stats.diskBytes !== undefined && stats.diskBytes >= stats.diskLimitBytes * DISK_FULL_SHARE) {
      await deps.events.emit({
        ...base,
        kind: 'disk_full',
        data: { cmd: argv[0], diskBytes: stats.diskBytes, diskLimitBytes: stats.diskLimitBytes, diskMb: JSON.parse(sbx.row.resources).diskMb },
      })
    }
  }
}
