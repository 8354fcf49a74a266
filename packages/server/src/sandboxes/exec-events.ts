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
  // A failed command in a sandbox whose writable layer is at its diskMb (EDQUOT), or while the pool every
  // layer shares is full (ENOSPC): most likely the cause. `scope` says which.
  if (r.exitCode !== 0) {
    const stats = await deps.runtime.stats(sbx.ref).catch(() => undefined) // a sandbox gone meanwhile has no disk to report
    const atLimit = Boolean(stats?.diskLimitBytes && stats.diskBytes !== undefined && stats.diskBytes >= stats.diskLimitBytes * DISK_FULL_SHARE)
    const poolFull = Boolean(stats?.diskPoolBytes && stats.diskPoolFreeBytes !== undefined && stats.diskPoolFreeBytes <= stats.diskPoolBytes * (1 - DISK_FULL_SHARE))
    if (stats && (atLimit || poolFull)) {
      await deps.events.emit({
        ...base,
        kind: 'disk_full',
        data: {
          cmd: argv[0],
          scope: atLimit ? 'sandbox' : 'pool',
          diskBytes: stats.diskBytes,
          diskLimitBytes: stats.diskLimitBytes,
          diskMb: JSON.parse(sbx.row.resources).diskMb,
          ...(poolFull ? { diskPoolBytes: stats.diskPoolBytes, diskPoolFreeBytes: stats.diskPoolFreeBytes } : {}),
        },
      })
    }
  }
}
