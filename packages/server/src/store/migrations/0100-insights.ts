/** @module store/migrations/0100-insights — tables of the feedback loop. */
import type { Kysely } from 'kysely'

export async function up(_db: Kysely<any>): Promise<void> {}
