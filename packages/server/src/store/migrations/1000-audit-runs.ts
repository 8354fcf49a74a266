/** @module store/migrations/1000-audit-runs — audit records name the agent run they belong to, so a run's decision graph is one indexed read. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  // A filter column like target and action: the run id also lives in the hashed text (call.runId).
  await db.schema.alterTable('audit').addColumn('run_id', 'text').execute()
  await db.schema.createIndex('audit_run_seq').on('audit').columns(['run_id', 'seq']).execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('audit_run_seq').execute()
  await db.schema.alterTable('audit').dropColumn('run_id').execute()
}
