/** @module store/migrations/1200-gate — the sandbox-first gate: targets, proposals (content-hashed, immutable artifact), rehearsals, target locks. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('gate_targets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('mirror_id', 'text', (c) => c.notNull())
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('gate_targets_project_name', ['project', 'name'])
    .execute()
  await db.schema
    .createTable('gate_proposals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('artifact_hash', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('proposer', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('classification', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text')
    .addColumn('decision', 'text')
    .addColumn('approval', 'text')
    .addColumn('promotion', 'text')
    .addColumn('promote_xid', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('gate_proposals_project_target').on('gate_proposals').columns(['project', 'target_id', 'id']).execute()
  await db.schema
    .createTable('gate_rehearsals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('artifact_hash', 'text', (c) => c.notNull())
    .addColumn('proposal_id', 'text', (c) => c.notNull())
    .addColumn('verdict', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('gate_rehearsals_target_artifact').on('gate_rehearsals').columns(['target_id', 'artifact_hash', 'at']).execute()
  await db.schema
    .createTable('gate_locks')
    .addColumn('target_id', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('gate_locks').execute()
  await db.schema.dropTable('gate_rehearsals').execute()
  await db.schema.dropTable('gate_proposals').execute()
  await db.schema.dropTable('gate_targets').execute()
}
