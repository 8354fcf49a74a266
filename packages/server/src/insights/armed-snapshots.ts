/** @module insights/armed-snapshots — a failing test with an armed snapshot-on-failure gets its sandbox captured (at most three times). */
import { systemActors } from '../audit/system-actor.js'
import type { Remediation } from '@tidepool/sdk'
import type { RemediationActions } from './actions.js'
import type { InsightsEnv } from './deps.js'
import { saveRemediation } from './queries.js'

/** Tests with an armed snapshot-on-failure failed in this run: capture the sandbox (or flag it for CI). */
export async function fireArmedSnapshots(
  env: InsightsEnv,
  actions: RemediationActions,
  project: string,
  runId: string,
  failingTests: readonly string[],
  sandboxId: string | undefined,
  armed: readonly Remediation[],
): Promise<void> {
  const failing = new Set(failingTests)
  for (const rem of armed) {
    if (!rem.testId || !failing.has(rem.testId)) continue
    const result = (rem.result ?? {}) as { captures?: unknown[] }
    if ((result.captures ?? []).length >= 3) continue
    let capture: Record<string, unknown> = { runId, at: new Date(env.clock.now()).toISOString() }
    if (sandboxId && actions.supports('snapshot_on_failure')) {
      try {
        const out = await actions.apply({ project, kind: 'snapshot_on_failure', params: { sandboxId, testId: rem.testId }, runId, testId: rem.testId })
        capture = { ...capture, ok: out.ok, detail: out.detail, ...(out.effect ? { effect: out.effect } : {}) }
      } catch (err) {
        capture = { ...capture, ok: false, detail: (err as Error).message }
      }
    } else capture = { ...capture, ok: false, detail: sandboxId ? 'no snapshot executor configured' : 'the run has no infra.sandboxId to snapshot' }
    rem.result = { ...result, captures: [...(result.captures ?? []), capture] }
    await saveRemediation(env, project, rem)
    await env.audit.append({ actor: systemActors.remediation, project, action: 'insights.remediation.capture', target: rem.id, outcome: capture.ok ? 'ok' : 'skipped', data: capture })
  }
}
