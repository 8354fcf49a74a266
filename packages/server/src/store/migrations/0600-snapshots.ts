/** @module store/migrations/0600-snapshots — snapshots of sandboxes, and what a sandbox started from (its parent snapshot, its template's exact build). */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('snapshots')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('sandbox_id', 'text', (c) => c.notNull())
    .addColumn('parent', 'text')
    .addColumn('template', 'text', (c) => c.notNull())
    // The template's exact build (ResolvedTemplate.ref as JSON), so a sandbox from it starts on the same layers.
    .addColumn('template_ref', 'text')
    // 'creating' (written before the runtime call) → 'ready'; reconcile settles a 'creating' one after a crash.
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('exclusive_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    // 1: the fork point of a fork; retention deletes it once no live sandbox started from it.
    .addColumn('fork_point', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema.createIndex('snapshots_project_id').on('snapshots').columns(['project', 'id']).execute()
  await db.schema.createIndex('snapshots_sandbox').on('snapshots').columns(['sandbox_id', 'created_at']).execute()
  await db.schema.alterTable('sandboxes').addColumn('parent_snapshot', 'text').execute()
  await db.schema.alterTable('sandboxes').addColumn('template_ref', 'text').execute()
  await db.schema.createIndex('sandboxes_parent_snapshot').on('sandboxes').columns(['parent_snapshot', 'state']).execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sandboxes_parent_snapshot').execute()
  await db.schema.alterTable('sandboxes').dropColumn('template_ref').execute()
  await db.schema.alterTable('sandboxes').dropColumn('parent_snapshot').execute()
  await db.schema.dropTable('snapshots').execute()
}
