/** @module store/migrations/0700-network — the egress proxy's tables: per-sandbox policy, egress events, brokered secrets (encrypted). */
import type { Kysely } from 'kysely'
import { isPostgres, serialType } from './dialect.js'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('network_policies')
    .addColumn('sandbox_id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('template', 'text')
    // JSON { allowedDomains, deniedDomains } of the template level (as the sandboxes area passed it), or null.
    .addColumn('template_policy', 'text')
    .addColumn('allowed', 'text', (c) => c.notNull())
    .addColumn('denied', 'text', (c) => c.notNull())
    .addColumn('source_ip', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('network_events')
    .addColumn('seq', serialType(db), (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('sandbox_id', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('port', 'integer', (c) => c.notNull())
    .addColumn('verdict', 'text', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('bytes_up', 'bigint', (c) => c.notNull())
    .addColumn('bytes_down', 'bigint', (c) => c.notNull())
    .addColumn('stub', 'text')
    // JSON of the StubCall a stub recorded, or null.
    .addColumn('call', 'text')
    .execute()
  await db.schema.createIndex('network_events_project_seq').on('network_events').columns(['project', 'seq']).execute()
  await db.schema.createIndex('network_events_stub').on('network_events').columns(['project', 'stub', 'seq']).execute()
  await db.schema
    .createTable('network_secrets')
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    // base64 of AES-256-GCM: iv (12) | tag (16) | ciphertext; the key lives in a 0600 file outside the store.
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('network_secrets_pk', ['project', 'name'])
    .execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('network_secrets').execute()
  await db.schema.dropTable('network_events').execute()
  await db.schema.dropTable('network_policies').execute()
}
