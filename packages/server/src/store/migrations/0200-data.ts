/** @module store/migrations/0200-data — data sources, mirrors, clones. */
import type { Kysely } from 'kysely'

export async function up(_db: Kysely<any>): Promise<void> {}
