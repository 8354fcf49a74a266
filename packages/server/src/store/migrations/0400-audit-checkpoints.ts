/** @module store/migrations/0400-audit-checkpoints — audit records keep the exact text that was hashed; signed checkpoints. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  // The canonical JSON text of each record, exactly the bytes its hash covers. Rows written before this
  // migration keep null and are verified from their columns, as they were written.
  await db.schema.alterTable('audit').addColumn('body', 'text').execute()
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_checkpoints').execute()
  await db.schema.alterTable('audit').dropColumn('body').execute()
}
