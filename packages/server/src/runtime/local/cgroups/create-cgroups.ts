/** @module runtime/local/cgroups/create-cgroups — picks the v1 or v2 halves for what this host has mounted. */
import { Cgroups } from './cgroups.js'
import type { CgroupLayout } from './layout.js'
import { V1Limits, V1Tracker } from './v1.js'
import { Cgroup2Tracker, V2Limits } from './v2.js'

/**
 * A v2 host limits and tracks in its one tree. A v1 host limits in its controller hierarchies and
 * tracks in its cgroup2 tree when one is mounted (hybrid: commands are cloned into their cgroup, no
 * migration per exec), else in the pids and freezer hierarchies.
 */
export function createCgroups(layout: CgroupLayout, name: string, instance: string, opts: { pidsCeiling?: number } = {}): Cgroups {
  if (layout.version === 2) return new Cgroups({ limits: new V2Limits(layout.root), tracker: new Cgroup2Tracker(layout.root) }, name, instance, opts)
  if (layout.version === 'none') return new Cgroups(undefined, name, instance, opts)
  const limits = new V1Limits(layout.controllers)
  const pids = layout.controllers.pids
  const tracker = layout.unified ? new Cgroup2Tracker(layout.unified) : pids ? new V1Tracker(pids, layout.controllers.freezer, limits.hierarchies) : undefined
  return new Cgroups(tracker ? { limits, tracker } : { limits }, name, instance, opts)
}
