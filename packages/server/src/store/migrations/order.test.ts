import { describe, expect, it } from 'vitest'
import { migrations } from './index.js'
import { migrationOrderProblems, releasedMigrations } from './released.js'

describe('the migration sequence', () => {
  it('keeps every released name and puts every new one after the last released', () => {
    expect(migrationOrderProblems(Object.keys(migrations))).toEqual([])
  })

  it('lists the last released migration (update released.ts when a release adds migrations)', () => {
    expect(releasedMigrations.at(-1)).toBe('0400-audit-checkpoints')
    expect(Object.keys(migrations).slice(0, releasedMigrations.length)).toEqual([...releasedMigrations])
  })

  it('catches a new migration numbered by area, before the last released one', () => {
    const names = [...releasedMigrations, '0101-insights-more']
    expect(migrationOrderProblems(names)).toEqual([
      expect.stringContaining('does not sort after'),
      expect.stringContaining('new migration 0101-insights-more sorts before the last released one (0400-audit-checkpoints)'),
    ])
  })

  it('catches a released migration renamed or removed', () => {
    const names = releasedMigrations.map((n) => (n === '0200-data' ? '0200-data-v2' : n)).filter((n) => n !== '0300-retention')
    const problems = migrationOrderProblems(names)
    expect(problems).toContainEqual(expect.stringContaining('released migration 0200-data is missing'))
    expect(problems).toContainEqual(expect.stringContaining('released migration 0300-retention is missing'))
  })

  it('accepts a new migration that sorts after the last released one', () => {
    expect(migrationOrderProblems([...releasedMigrations, '0500-next'])).toEqual([])
  })
})
