/**
 * @module store/migrations — every migration, in one append-only sequence.
 *
 * The rule: a new migration's name sorts after every released one (`released.ts`), whatever area it is
 * for — the next free number after the last, e.g. `0500-…`, then `0600-…`. kysely's Migrator refuses to
 * open a store when an unapplied migration sorts before an applied one, so a `0101-…` "next to" the
 * insights one would stop every existing store. The released names (0001 core, 0100 insights, 0200 data,
 * 0300 retention, 0400 audit) keep their numbers: stores exist with them. `order.test.ts` checks all this.
 */
import type { Migration } from 'kysely'
import * as core from './0001-core.js'
import * as insights from './0100-insights.js'
import * as data from './0200-data.js'
import * as retention from './0300-retention.js'
import * as auditCheckpoints from './0400-audit-checkpoints.js'
import * as templates from './0500-templates.js'
import * as snapshots from './0600-snapshots.js'
import * as network from './0700-network.js'
import * as workflows from './0800-workflows.js'
import * as ports from './0900-ports.js'
import * as auditRuns from './1000-audit-runs.js'
import * as insightFlakyEvidence from './1100-insight-flaky-evidence.js'
import * as environments from './1101-environments.js'
import * as gate from './1200-gate.js'
import * as webhooks from './1240-webhooks.js'
import * as forkSandboxes from './1250-fork-sandboxes.js'

export const migrations: Record<string, Migration> = {
  '0001-core': core,
  '0100-insights': insights,
  '0200-data': data,
  '0300-retention': retention,
  '0400-audit-checkpoints': auditCheckpoints,
  '0500-templates': templates,
  '0600-snapshots': snapshots,
  '0700-network': network,
  '0800-workflows': workflows,
  '0900-ports': ports,
  '1000-audit-runs': auditRuns,
  '1100-insight-flaky-evidence': insightFlakyEvidence,
  '1101-environments': environments,
  '1200-gate': gate,
  '1240-webhooks': webhooks,
  '1250-fork-sandboxes': forkSandboxes,
}
