import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import type { Runtime } from '../runtime/runtime.js'
import { openStore, type OpenedStore } from '../store/db.js'
import { TokenService } from './tokens.js'

const dirs: string[] = []
const stores: OpenedStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const clock = { now: () => Date.parse('2026-01-01T00:00:00Z') }
const tempHome = () => {
  const d = mkdtempSync(join(tmpdir(), 'tidepool-tokens-'))
  dirs.push(d)
  return d
}
const memoryTokens = async () => {
  const s = await openStore(':memory:')
  stores.push(s)
  return { tokens: new TokenService(s.db, clock), store: s }
}

describe('bootstrapAdmin never overwrites an admin token file', () => {
  it('first start writes the token 0600 and later starts leave it; a start over a store that does not know it is refused', async () => {
    const file = join(tempHome(), 'admin.token')
    const { tokens } = await memoryTokens()
    const token = await tokens.bootstrapAdmin(file)
    expect(readFileSync(file, 'utf8')).toBe(`${token}\n`)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(await tokens.bootstrapAdmin(file)).toBeUndefined()
    const other = await memoryTokens() // e.g. the store was reset
    await expect(other.tokens.bootstrapAdmin(file)).rejects.toMatchObject({ code: 'runtime_unavailable' })
    expect(readFileSync(file, 'utf8')).toBe(`${token}\n`)
    expect((await tokens.authenticate(token)).scopes).toEqual(['admin'])
  })

  it('a token file the store does not know is refused, named, and kept as it was', async () => {
    const file = join(tempHome(), 'admin.token')
    writeFileSync(file, 'tp_from_the_lost_store\n', { mode: 0o600 })
    const { tokens, store } = await memoryTokens()
    await expect(tokens.bootstrapAdmin(file)).rejects.toMatchObject({
      code: 'runtime_unavailable',
      details: { file, problem: 'unknown_admin_token' },
      message: expect.stringMatching(new RegExp(`^${file} holds a token the store does not know.*move ${file} away`)),
    })
    expect(readFileSync(file, 'utf8')).toBe('tp_from_the_lost_store\n')
    expect(await store.db.selectFrom('tokens').select('id').execute()).toEqual([])
  })

  it('writes with O_EXCL: a link planted at the path is not followed, and no token is left minted', async () => {
    const home = tempHome()
    const file = join(home, 'admin.token')
    const target = join(home, 'elsewhere')
    symlinkSync(target, file) // dangling: reads as "no file", but creating through it must fail
    const { tokens, store } = await memoryTokens()
    await expect(tokens.bootstrapAdmin(file)).rejects.toMatchObject({ code: 'conflict' })
    expect(() => statSync(target)).toThrow()
    expect(await store.db.selectFrom('tokens').select('id').execute()).toEqual([])
  })
})

describe('start-up over a lost store', () => {
  it('a 0-byte tidepool.db beside an admin.token stops the start; the token file and the store stay as they were', async () => {
    const home = tempHome()
    writeFileSync(join(home, 'tidepool.db'), '')
    writeFileSync(join(home, 'admin.token'), 'tp_the_only_way_in\n', { mode: 0o600 })
    const config = loadConfig({ env: {}, overrides: { home, logLevel: 'silent' } })
    await expect(buildControlPlane(config, { runtime: {} as Runtime, logger: silentLogger, reaper: false })).rejects.toMatchObject({
      code: 'runtime_unavailable',
      details: { file: join(home, 'tidepool.db'), problem: 'empty' },
    })
    expect(readFileSync(join(home, 'admin.token'), 'utf8')).toBe('tp_the_only_way_in\n')
    expect(statSync(join(home, 'tidepool.db')).size).toBe(0)
  })
})
