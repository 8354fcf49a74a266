/** @module dispatch/remediation-clones — the feedback loop's reset_state/reseed executor over the data area's clones. */
import type { Principal } from '@tidepool/sdk'
import { systemActors } from '../audit/system-actor.js'
import type { DataService } from '../data/service.js'
import type { ClonePort } from '../insights/actions.js'

/** At most this many pages of clones are read to find the ones bound to one sandbox. */
const maxPages = 20

/**
 * Clones bound to a sandbox, snapshotted and reset through the data service as system:remediation (the
 * data area writes its own events and audit records for each: data.clone.snapshot, data.clone.reset).
 */
export function remediationClones(data: DataService): ClonePort {
  const as = (project: string): Principal => ({ tokenId: systemActors.remediation, name: 'insights remediation', project, scopes: ['data:write'] })
  return {
    async boundTo(project, sandboxId) {
      const out: { id: string; resetAt?: string | undefined }[] = []
      let nextToken: string | undefined
      for (let i = 0; i < maxPages; i++) {
        const page = await data.listClones(as(project), { limit: 1000, nextToken })
        for (const c of page.items) if (c.sandbox === sandboxId) out.push({ id: c.id, resetAt: c.resetAt })
        nextToken = page.nextToken ?? undefined
        if (!nextToken) break
      }
      return out
    },
    snapshot: async (project, cloneId, label) => ({ id: (await data.snapshotClone(as(project), cloneId, label)).id }),
    async reset(project, cloneId, to) {
      const c = await data.resetClone(as(project), cloneId, to)
      return { id: c.id, resetAt: c.resetAt }
    },
  }
}
