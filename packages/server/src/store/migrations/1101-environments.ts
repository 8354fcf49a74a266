/** @module store/migrations/1101-environments — request-level environments (a baseline of services) and their forks. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('environments')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('services', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('environments_project_name').on('environments').columns(['project', 'name']).execute()
  await db.schema
    .createTable('environment_forks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('routing_key', 'text', (c) => c.notNull())
    .addColumn('upstream', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addUniqueConstraint('environment_forks_service_key', ['environment', 'service', 'routing_key'])
    .execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('environment_forks').execute()
  await db.schema.dropTable('environments').execute()
}
