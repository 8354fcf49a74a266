/** @module store/migrations/0800-workflows — workflow runs: the workflow text and inputs (for replay), the step results, the timings. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('workflow_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    // 'running' (written before the first step) → 'passed' | 'failed'.
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('sandbox_id', 'text')
    // The YAML text as sent and the inputs as sent: a replay runs exactly these again.
    .addColumn('workflow', 'text', (c) => c.notNull())
    .addColumn('inputs_sent', 'text', (c) => c.notNull())
    // JSON: the resolved inputs, the step results, the timings (kept apart: reports leave them out).
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('steps', 'text', (c) => c.notNull())
    .addColumn('timings', 'text')
    .addColumn('replay_of', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .execute()
  await db.schema.createIndex('workflow_runs_project_created').on('workflow_runs').columns(['project', 'created_at', 'id']).execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('workflow_runs').execute()
}
