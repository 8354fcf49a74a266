/** @module store/migrations — every migration, in order. Names sort: 0001–0099 core, 0100+ insights, 0200+ data, 0300+ core again, 0400+ audit. */
import type { Migration } from 'kysely'
import * as core from './0001-core.js'
import * as insights from './0100-insights.js'
import * as data from './0200-data.js'
import * as retention from './0300-retention.js'
import * as auditCheckpoints from './0400-audit-checkpoints.js'

export const migrations: Record<string, Migration> = {
  '0001-core': core,
  '0100-insights': insights,
  '0200-data': data,
  '0300-retention': retention,
  '0400-audit-checkpoints': auditCheckpoints,
}
