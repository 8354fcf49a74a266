import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kysely, SqliteDialect } from 'kysely'
import type SQLite from 'better-sqlite3'
import { sqliteModule } from './db.js'
import { containing, escapeLike } from './like.js'

interface T {
  words: { w: string }
}

describe('LIKE patterns from user input', () => {
  let sqlite: SQLite.Database
  let db: Kysely<T>
  beforeAll(async () => {
    const Database = await sqliteModule()
    sqlite = new Database(':memory:')
    db = new Kysely<T>({ dialect: new SqliteDialect({ database: sqlite }) })
    await db.schema.createTable('words').addColumn('w', 'text').execute()
    await db
      .insertInto('words')
      .values(['a%b', 'axb', 'a_b', 'ayb', 'a\\b', 'zzz'].map((w) => ({ w })))
      .execute()
  })
  afterAll(async () => db.destroy())

  const match = async (q: string) => (await db.selectFrom('words').select('w').where('w', 'like', containing(q)).orderBy('w').execute()).map((r) => r.w)

  it('escapes the wildcards and the escape character', () => {
    expect(escapeLike('50%_off\\')).toBe('50\\%\\_off\\\\')
  })
  it('matches % literally', async () => {
    expect(await match('a%b')).toEqual(['a%b'])
    expect(await match('%')).toEqual(['a%b'])
  })
  it('matches _ literally', async () => {
    expect(await match('a_b')).toEqual(['a_b'])
  })
  it('matches a backslash literally', async () => {
    expect(await match('a\\b')).toEqual(['a\\b'])
  })
  it('still finds plain substrings', async () => {
    expect(await match('b')).toEqual(['a%b', 'a\\b', 'a_b', 'axb', 'ayb'])
  })
})
