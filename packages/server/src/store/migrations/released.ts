/**
 * @module store/migrations/released — the migration names that have shipped, in order, the last one included.
 *
 * Stores exist with these names recorded in `kysely_migration`: never rename or remove one. On a release,
 * append the names it adds. kysely's Migrator refuses to start a store when a migration it has not applied
 * sorts before one it has, so every new migration's name must sort after the last name here.
 */
export const releasedMigrations: readonly string[] = ['0001-core', '0100-insights', '0200-data', '0300-retention', '0400-audit-checkpoints']

/** What is wrong with `names` (the migrations in the index, in order) against the released list: [] when nothing. */
export function migrationOrderProblems(names: readonly string[], released: readonly string[] = releasedMigrations): string[] {
  const problems: string[] = []
  const known = new Set(names)
  for (const r of released) if (!known.has(r)) problems.push(`released migration ${r} is missing from store/migrations/index.ts (renamed or removed?); existing stores have it applied: restore it`)
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1]! >= names[i]!) problems.push(`migration ${names[i]} is listed after ${names[i - 1]} but does not sort after it; list them in name order`)
  }
  const last = released[released.length - 1]
  const releasedSet = new Set(released)
  for (const n of names) {
    if (last !== undefined && !releasedSet.has(n) && n <= last)
      problems.push(
        `new migration ${n} sorts before the last released one (${last}): kysely would refuse every existing store; name it so it sorts after ${last} (e.g. the next number in the one sequence)`,
      )
  }
  return problems
}
