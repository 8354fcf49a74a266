/** @module cli/commands/replay — `tidepool replay <run>`: re-issue an agent run's actions against a fresh sandbox, show where results differ. */
import type { ReplayReport } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'
import { table } from '../io.js'

const marks: Record<ReplayReport['steps'][number]['status'], string> = { same: '✓', differs: '✗', failed: '✗', unverified: '?', skipped: '-', not_replayable: '-' }

/** The report for a person: one line per step, the differing previews, the sandboxes, a summary. */
export function replayText(r: ReplayReport): string {
  const rows = r.steps.map((s) => ({ '': marks[s.status], seq: s.seq, action: s.action, target: s.target, status: s.status, reason: s.reason }))
  const lines = [table(rows, ['', 'seq', 'action', 'target', 'status', 'reason'])]
  for (const s of r.steps.filter((x) => x.status === 'differs')) {
    lines.push(`\nseq ${s.seq} ${s.action}:\n  recorded: ${JSON.stringify(s.recorded?.preview ?? s.recorded?.outcome)}\n  replayed: ${JSON.stringify(s.replayed?.preview ?? s.replayed?.outcome)}`)
  }
  for (const b of r.sandboxes) lines.push(`sandbox ${b.fresh}${b.original ? ` (for ${b.original})` : ''}: ${b.destroyed ? 'destroyed' : 'kept'}`)
  const n = r.summary
  const tail = r.truncated ? ' (truncated: only the first records of the run were replayed)' : ''
  lines.push(
    `${r.ok ? '✓' : '✗'} ${n.same} same, ${n.differs} differ, ${n.failed} failed, ${n.unverified} unverified, ${n.skipped} skipped, ${n.notReplayable} not replayable; recorded as run ${r.replayRun}${tail}`,
  )
  return lines.join('\n')
}

export const replayCommand: CliCommand = {
  words: ['replay'],
  summary: 'Replay an agent run: re-issue its recorded actions against a fresh sandbox and report where results differ (exit 1 if any does)',
  usage: '<run-id> [--keep] [--json]',
  options: { json: { type: 'boolean' }, keep: { type: 'boolean' } },
  async run({ positionals, values: v, api, io }) {
    const run = positionals[0]
    if (!run) throw new Error('usage: tidepool replay <run-id> [--keep] [--json] (the runId agents send in x-tidepool-meta or MCP _meta)')
    // No client timeout: a replay takes as long as the run's own steps.
    const report = await (await api()).replayRun({ run, keep: Boolean(v.keep) }, { timeoutMs: 0 })
    io.print(report, () => replayText(report))
    return report.ok ? 0 : 1
  },
}
