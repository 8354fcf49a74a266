/**
 * @module wiring/insights-sandboxes — how the feedback loop's remediations reach the sandboxes and data
 * services (as the system principal `system:remediation`, audited like an API call), and how a run finds
 * its sandboxes' cgroup figures. Part of the composition root (main.ts): areas never import each other.
 */
import type { AuditLog } from '../audit/audit-log.js'
import { auditedSystemAction, systemActors } from '../audit/system-actor.js'
import type { Logger } from '../core/log.js'
import type { DataService } from '../data/service.js'
import { remediationClones } from '../dispatch/remediation-clones.js'
import { sandboxRemediationActions } from '../insights/actions.js'
import type { InsightsOptions } from '../insights/service.js'
import type { SandboxService } from '../sandboxes/sandboxes.js'

export function insightsSandboxWiring({
  sandboxes,
  audit,
  log,
  data: svcData,
}: {
  sandboxes: SandboxService
  audit: AuditLog
  log: Logger
  data: DataService
}): Pick<InsightsOptions, 'actions' | 'sandboxes'> {
  return {
    actions: sandboxRemediationActions({
      get: async (project, id) => {
        try {
          const s = await sandboxes.get({ project }, id)
          return { state: s.state, resources: s.resources }
        } catch (err) {
          if ((err as { code?: string }).code === 'not_found') return undefined
          throw err
        }
      },
      resize: async (project, id, resources) => {
        const actor = systemActors.remediation
        await auditedSystemAction(audit, log, { actor, project, action: 'patchSandbox', target: id, data: { id, resources } }, () =>
          sandboxes.patch({ tokenId: actor, name: 'insights remediation', project, scopes: ['sandboxes:write'] }, id, { resources }),
        )
      },
      // How a resize (and its rollback) is checked: the limits read back from the sandbox's cgroup files.
      limits: async (project, id) => {
        const m = await sandboxes.metrics({ tokenId: systemActors.remediation, name: 'insights remediation', project, scopes: ['sandboxes:read'] }, id).catch(() => undefined)
        return m && { memoryMb: m.memoryLimitBytes / 1048576, pids: m.pidsLimit, cpu: m.cpuLimit }
      },
      // reset_state / reseed reset the clones bound to the sandbox through the data area, as system:remediation.
      clones: remediationClones(svcData),
      disarm: (id) => sandboxes.snapshots.takeArmed(id) !== undefined,
      // snapshot_on_failure's executor: the failed state is captured now, and the sandbox's next failing exec too.
      snapshot: async (project, id) => {
        const actor = systemActors.remediation
        const snap = await auditedSystemAction(audit, log, { actor, project, action: 'createSnapshot', target: id, data: { id, reason: 'snapshot_on_failure' } }, () =>
          sandboxes.snapshots.create({ tokenId: actor, project }, id, { labels: { reason: 'insights_failure' } }),
        )
        sandboxes.snapshots.arm(id, 'insights_failure')
        return { id: snap.id }
      },
    }),
    // A run that executed in tidepool sandboxes gets their cgroup figures: infra.sandboxId, and the
    // sandboxes created by calls that named the run (CallMeta runId, in the audit log).
    sandboxes: {
      figures: (project, id) => sandboxes.figures(project, id),
      sandboxesOfRun: async (project, runId) => (await audit.list({ project, run: runId, action: 'createSandbox', limit: 100 })).filter((r) => r.outcome === 'ok' && r.target).map((r) => r.target!),
    },
  }
}
