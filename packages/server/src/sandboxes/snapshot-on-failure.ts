/** @module sandboxes/snapshot-on-failure — a failed command's sandbox captured before its result returns. */
import type { ExecResult, Principal } from '@tidepool/sdk'
import type { SnapshotService } from './snapshots.js'

/**
 * A failed command (non-zero exit or timeout) with snapshotOnFailure — or in a sandbox the feedback loop
 * armed (SnapshotService.arm) — snapshots the sandbox before its result returns. A failed capture is
 * reported in the result (snapshotError); the command's own result is never lost to it.
 */
export async function snapshotOnFailure(
  snapshots: SnapshotService,
  p: Pick<Principal, 'project' | 'tokenId'>,
  id: string,
  asked: boolean | undefined,
  argv: string[],
  result: ExecResult,
): Promise<ExecResult> {
  if (result.exitCode === 0 && !result.timedOut) return result
  const armed = !asked && snapshots.takeArmed(id)
  if (!asked && !armed) return result
  const labels = { reason: armed ? 'armed_failure' : 'exec_failure', cmd: (argv[0] ?? '').slice(0, 256), exitCode: String(result.exitCode), ...(armed ? { armedFor: armed.slice(0, 256) } : {}) }
  try {
    const snap = await snapshots.create(p, id, { labels })
    return { ...result, snapshotId: snap.id }
  } catch (err) {
    return { ...result, snapshotError: `${(err as { code?: string }).code ?? 'internal'}: ${(err as Error).message}` }
  }
}
