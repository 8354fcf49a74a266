/** @module store/migrations — every migration, in order. Names sort: 0001–0099 core, 0100+ insights, 0200+ data. */
import type { Migration } from 'kysely'
import * as core from './0001-core.js'

export const migrations: Record<string, Migration> = {
  '0001-core': core,
}
