/**
 * Upgrade: a store made by the previous release (every migration but the newest applied, rows written
 * in that schema) opens under the new code (`openStore` runs the newest), and its rows come through intact.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { recordHash, type AuditBody } from '../../audit/audit-row.js'
import { genesis, verifyAuditLog } from '../../audit/verify.js'
import { TokenService } from '../../access/tokens.js'
import { systemClock } from '../../core/clock.js'
import { openStore, sqliteModule, type OpenedStore } from '../db.js'
import type { SandboxRow } from '../schema.js'
import { migrations } from './index.js'

const dirs: string[] = []
const stores: OpenedStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const names = Object.keys(migrations).sort()
const newest = names.at(-1)!
const previous: Record<string, Migration> = Object.fromEntries(names.slice(0, -1).map((n) => [n, migrations[n]!]))

/** A SQLite file migrated as the previous release left it. */
// biome-ignore lint: the previous release's schema, not today's table types
async function previousReleaseStore(file: string): Promise<Kysely<any>> {
  const Database = await sqliteModule()
  // biome-ignore lint: as above
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(file) }) })
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => previous } }).migrateToLatest()
  if (error) throw error
  return db
}

const sandbox: SandboxRow = {
  id: 'sbx_upgrade01',
  project: 'default',
  state: 'running',
  reason: 'created',
  template: 'base',
  created_at: '2026-11-01T10:00:00.000Z',
  updated_at: '2026-11-01T10:00:01.000Z',
  expires_at: '2026-11-01T10:10:00.000Z',
  timeout_ms: 600_000,
  lifecycle: JSON.stringify({ onTimeout: 'kill', autoResume: false }),
  resources: JSON.stringify({ cpu: 1, memoryMb: 512, pids: 256, diskMb: 1024 }),
  envs: '{}',
  metadata: JSON.stringify({ pr: '123' }),
  deny_read: '[]',
  runtime_ref: JSON.stringify({ id: 'sbx_upgrade01' }),
  owner: 'tok_admin',
}

/** Audit records as the previous release wrote them: filter columns, the data column, a hash chain. */
function auditRows(): Array<Record<string, unknown>> {
  let prevHash = genesis
  return [1, 2].map((seq) => {
    const body: AuditBody = {
      seq,
      at: `2026-11-01T10:00:0${seq}.000Z`,
      actor: 'tok_admin (admin)',
      project: 'default',
      action: seq === 1 ? 'createSandbox' : 'execCommand',
      target: sandbox.id,
      outcome: 'ok',
      requestId: `req_${seq}`,
      data: { seq },
      prevHash,
    }
    const hash = recordHash(body)
    const row = {
      seq,
      at: body.at,
      actor: body.actor,
      project: body.project,
      action: body.action,
      target: body.target,
      outcome: body.outcome,
      request_id: body.requestId,
      data: JSON.stringify(body.data),
      prev_hash: prevHash,
      hash,
    }
    prevHash = hash
    return row
  })
}

describe(`upgrading a store of the previous release (through ${names.at(-2)}) to ${newest}`, () => {
  it('opens under openStore with its audit records, sandbox and token intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-upgrade-'))
    dirs.push(dir)
    const file = join(dir, 'tidepool.db')
    const old = await previousReleaseStore(file)
    const token = await new TokenService(old, systemClock).create({ project: 'ci', scopes: ['sandboxes:read'], name: 'ci-bot' })
    await old.insertInto('sandboxes').values(sandbox).execute()
    await old.insertInto('audit').values(auditRows()).execute()
    await old.destroy()

    const store = await openStore(`sqlite:${file}`)
    stores.push(store)
    const { sql } = await import('kysely')
    const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db)
    expect(applied.rows.map((r) => r.name)).toEqual(names)

    // 0600 adds what a sandbox started from: null on a sandbox made before it
    expect(await store.db.selectFrom('sandboxes').selectAll().where('id', '=', sandbox.id).executeTakeFirst()).toEqual({ ...sandbox, parent_snapshot: null, template_ref: null })
    const principal = await new TokenService(store.db, systemClock).authenticate(token.token)
    expect(principal).toMatchObject({ project: 'ci', scopes: ['sandboxes:read'] })
    const audit = await store.db.selectFrom('audit').select(['seq', 'action', 'hash']).orderBy('seq').execute()
    expect(audit.map((r) => [Number(r.seq), r.action, r.hash])).toEqual(auditRows().map((r) => [r.seq, r.action, r.hash]))
    const report = await verifyAuditLog(store.db)
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ok: true, records: 2 })
  })
})
