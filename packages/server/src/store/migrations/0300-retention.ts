/** @module store/migrations/0300-retention — finds stopped sandboxes by age without scanning the table. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('sandboxes_state_updated').on('sandboxes').columns(['state', 'updated_at']).execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sandboxes_state_updated').execute()
}
