import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openStore, type OpenedStore } from './db.js'

const dirs: string[] = []
const stores: OpenedStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('openStore (SQLite)', () => {
  it('is owned by one process at a time: a second opener gets conflict with what to do, and the first keeps working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-store-'))
    dirs.push(dir)
    const file = join(dir, 'tidepool.db')
    const first = await openStore(`sqlite:${file}`)
    stores.push(first)
    await expect(openStore(`sqlite:${file}`)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('in use by another tidepool process') })
    await first.db.insertInto('events').values({ at: 'now', project: 'p', sandbox_id: 's', kind: 'k', actor: 'a', data: '{}' }).execute()
    expect((await first.db.selectFrom('events').select('kind').execute()).map((r) => r.kind)).toEqual(['k'])
    await first.close()
    stores.splice(0)
    const again = await openStore(`sqlite:${file}`) // free once closed
    stores.push(again)
    expect((await again.db.selectFrom('events').select('kind').execute()).map((r) => r.kind)).toEqual(['k'])
  })
})
