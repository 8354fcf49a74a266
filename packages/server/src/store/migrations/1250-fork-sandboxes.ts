/** @module store/migrations/1250-fork-sandboxes — forks in sandboxes (sandbox + port, owned or not), upstream protocol, and a fork's own database clone. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('environment_forks').addColumn('sandbox_id', 'text').execute()
  await db.schema.alterTable('environment_forks').addColumn('port', 'integer').execute()
  await db.schema.alterTable('environment_forks').addColumn('protocol', 'text').execute()
  await db.schema
    .alterTable('environment_forks')
    .addColumn('owns_sandbox', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema.alterTable('environment_forks').addColumn('clone_id', 'text').execute()
  await db.schema.alterTable('environment_forks').addColumn('clone_url', 'text').execute()
  await db.schema.createIndex('environment_forks_sandbox').on('environment_forks').column('sandbox_id').execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('environment_forks_sandbox').execute()
  for (const c of ['clone_url', 'clone_id', 'owns_sandbox', 'protocol', 'port', 'sandbox_id']) await db.schema.alterTable('environment_forks').dropColumn(c).execute()
}
