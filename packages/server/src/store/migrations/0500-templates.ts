/** @module store/migrations/0500-templates — templates (as of their last good build), their builds, and the layers they share. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('templates')
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('base_kind', 'text', (c) => c.notNull())
    .addColumn('base_digest', 'text', (c) => c.notNull())
    .addColumn('base_source', 'text')
    .addColumn('rootfs', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('layer_keys', 'text', (c) => c.notNull())
    .addColumn('defaults', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('last_build_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('templates_pk', ['project', 'name'])
    .execute()

  await db.schema
    .createTable('template_builds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('cached_steps', 'integer', (c) => c.notNull())
    .addColumn('built_steps', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('log', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('template_builds_by_template').on('template_builds').columns(['project', 'name', 'started_at']).execute()

  await db.schema
    .createTable('template_layers')
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('snapshot_id', 'text', (c) => c.notNull())
    .addColumn('layer_path', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('exclusive_bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('build_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('template_layers_pk', ['project', 'key'])
    .execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('template_layers').execute()
  await db.schema.dropTable('template_builds').execute()
  await db.schema.dropTable('templates').execute()
}
