/** @module store/migrations/1100-insight-flaky-evidence — what made a test's flaky call (evidence kinds) and its flips across commits. */
import type { Kysely } from 'kysely'

// biome-ignore lint: migrations run against any table set
export async function up(db: Kysely<any>): Promise<void> {
  // Comma-separated kinds (same_tree_retry, in_run_retry, cross_commit_flips); '' for none.
  await db.schema
    .alterTable('insight_tests')
    .addColumn('evidence_kinds', 'text', (c) => c.notNull().defaultTo(''))
    .execute()
  await db.schema
    .alterTable('insight_tests')
    .addColumn('flips', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
}

// biome-ignore lint: migrations run against any table set
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('insight_tests').dropColumn('flips').execute()
  await db.schema.alterTable('insight_tests').dropColumn('evidence_kinds').execute()
}
