/**
 * The audit log end to end on a SQLite file: what is hashed is what is read back (lone surrogates),
 * and signed checkpoints plus the head file outside the store catch what the unkeyed chain cannot —
 * an edit with the chain recomputed, deleting the newest records, a rolled-back head, a replaced key.
 */
import { createHash, generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { localCommands } from '../cli/commands/local.js'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane, type ControlPlane } from '../main.js'
import { FakeRuntime } from '../runtime/fake.js'
import { sqliteModule } from '../store/db.js'
import { canonicalJson } from './canonical-json.js'

let home: string
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'tidepool-audit-'))
})
afterEach(() => rmSync(home, { recursive: true, force: true }))

const configOf = (overrides: Record<string, unknown> = {}) => loadConfig({ env: {}, overrides: { home, logLevel: 'silent', ...overrides } })
const plane = (overrides: Record<string, unknown> = {}) => buildControlPlane(configOf(overrides), { runtime: new FakeRuntime(), logger: silentLogger, reaper: false })
const entry = (i: number) => ({ actor: 'system:test', project: 'p', action: 'test', target: `t${i}`, outcome: 'ok', data: { i } })
const headFile = () => join(home, 'audit', 'head.json')
const keyFile = () => join(home, 'audit', 'signing.key')
type Report = { ok: boolean; records: number; problems: { seq: number; problem: string }[]; checkpoints?: number; signedThrough?: number; unsignedTail?: number; headState?: string }

async function appendN(cp: ControlPlane, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await cp.svc.audit.append(entry(i))
}

async function onlineVerify(cp: ControlPlane): Promise<Report> {
  return (await cp.svc.audit.verify()) as Report
}

/** `tidepool audit verify --offline --json`, as the CLI runs it. */
async function offlineVerify(values: Record<string, unknown> = {}): Promise<{ code: number; report: Report }> {
  const config = configOf()
  const cmd = localCommands(() => config).find((c) => c.words.join(' ') === 'audit verify')!
  let printed: unknown
  const io = { json: true, out() {}, info() {}, print: (v: unknown) => void (printed = v) }
  const code = await cmd.run({ values: { offline: true, json: true, ...values }, positionals: [], api: () => Promise.reject(new Error('offline')), io, cwd: home })
  return { code, report: printed as Report }
}

/** Rewrites every record after `edit`, recomputing the whole unkeyed chain (what an attacker with the store can do). */
function rewriteChain(sqlite: Database.Database, edit: (r: Record<string, any>) => void): void {
  const hasBody = (sqlite.prepare('pragma table_info(audit)').all() as { name: string }[]).some((c) => c.name === 'body')
  const rows = sqlite.prepare('select * from audit order by seq').all() as Record<string, any>[]
  let prev = '0'.repeat(64)
  for (const row of rows) {
    const r: Record<string, any> =
      hasBody && row.body
        ? JSON.parse(row.body)
        : {
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            project: row.project,
            action: row.action,
            target: row.target ?? undefined,
            outcome: row.outcome,
            data: row.data ? JSON.parse(row.data) : undefined,
          }
    edit(r)
    r.prevHash = prev
    const text = canonicalJson(r)
    const hash = createHash('sha256').update(text).digest('hex')
    if (hasBody) sqlite.prepare('update audit set outcome = ?, prev_hash = ?, hash = ?, body = ? where seq = ?').run(r.outcome, prev, hash, text, row.seq)
    else sqlite.prepare('update audit set outcome = ?, data = ?, prev_hash = ?, hash = ? where seq = ?').run(r.outcome, r.data === undefined ? null : JSON.stringify(r.data), prev, hash, row.seq)
    prev = hash
  }
}

// The store's own loader: better-sqlite3 12 on Node 20, the Node-API 13 build from Node 22 on.
const Sqlite = await sqliteModule()
const openFile = () => new Sqlite(join(home, 'tidepool.db'))

describe('audit log: what is hashed is what is stored', () => {
  it('a lone surrogate (or NUL) appended by any caller still verifies after reading back, and reads back unchanged', async () => {
    const cp = await plane()
    try {
      await cp.svc.audit.append({
        actor: 'system:\ud800',
        project: 'p',
        action: 'createToken',
        target: 'tok_\udc00\u0000',
        outcome: 'policy_denied',
        data: { name: '\ud800', nested: { k: 'x\udfff' } },
      })
      await appendN(cp, 2)
      const report = await onlineVerify(cp)
      expect(report.problems).toEqual([])
      expect(report).toMatchObject({ ok: true, records: 3 })
      const [first] = await cp.svc.audit.list({ limit: 1 })
      expect(first).toMatchObject({ actor: 'system:\ud800', target: 'tok_\udc00\u0000', data: { name: '\ud800', nested: { k: 'x\udfff' } } })
    } finally {
      await cp.close()
    }
    expect((await offlineVerify()).report).toMatchObject({ ok: true, records: 3 })
  })

  it('data JSON.stringify refuses (a bigint, a cycle) is still recorded instead of failing the append', async () => {
    const cp = await plane()
    try {
      const cyclic: Record<string, unknown> = { a: 1 }
      cyclic.self = cyclic
      const r = await cp.svc.audit.append({ ...entry(0), data: { big: 10n, cyclic } })
      expect(r.data).toEqual({ big: '10', cyclic: { a: 1, self: '[circular]' } })
      expect((await onlineVerify(cp)).ok).toBe(true)
    } finally {
      await cp.close()
    }
  })
})

describe('audit log: signed checkpoints and the head outside the store', () => {
  it('an edited record with the whole chain recomputed fails verification (the signatures no longer match)', async () => {
    const cp = await plane()
    try {
      await appendN(cp, 5)
      expect((await onlineVerify(cp)).ok).toBe(true)
      rewriteChain(cp.svc.store.sqlite!, (r) => {
        if (r.seq === 2) r.data = { i: 'forged' }
      })
      const report = await onlineVerify(cp)
      expect(report.ok).toBe(false)
      expect(report.problems.map((p) => p.problem).join('\n')).toMatch(/edited and the chain recomputed/)
    } finally {
      await cp.close()
    }
  })

  it('deleting the newest records fails verification, online and offline, and the server refuses to start on it', async () => {
    const cp = await plane()
    try {
      await appendN(cp, 6)
      cp.svc.store.sqlite!.prepare('delete from audit where seq > 4').run()
      const report = await onlineVerify(cp)
      expect(report.ok).toBe(false)
      expect(report.problems.map((p) => p.problem).join('\n')).toMatch(/chain ends at seq 4.*newest records were deleted/)
    } finally {
      await cp.close()
    }
    // A clean stop signed the final head; now the attacker also deletes the checkpoints in the store.
    const db = openFile()
    db.prepare('delete from audit where seq > 3').run()
    try {
      db.prepare('delete from audit_checkpoints').run()
    } catch {} // no such table in a store without checkpoints
    db.close()
    const { code, report } = await offlineVerify()
    expect(code).toBe(1)
    expect(report.problems.map((p) => p.problem).join('\n')).toMatch(/the chain ends at seq 3, but the signed head .* is at seq \d+: the newest records were deleted/)
    await expect(plane()).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/chain ends at seq 3, before the signed head/) })
  })

  it('a removed or rolled-back head file is reported; emptying it is how an operator accepts the store', async () => {
    let cp = await plane()
    await appendN(cp, 3)
    await cp.close()
    const old = readFileSync(headFile(), 'utf8')
    expect(statSync(headFile()).mode & 0o777).toBe(0o600)
    expect(statSync(keyFile()).mode & 0o777).toBe(0o600)
    cp = await plane()
    await appendN(cp, 3)
    await cp.close()
    expect((await offlineVerify()).report).toMatchObject({ ok: true, records: 6, signedThrough: 6, unsignedTail: 0, headState: 'ok' })

    writeFileSync(headFile(), old) // an older, validly signed head
    const rolled = await offlineVerify()
    expect(rolled.code).toBe(1)
    expect(rolled.report.problems.map((p) => p.problem).join('\n')).toMatch(/older than the store's newest checkpoint .*rolled back/)

    unlinkSync(headFile())
    const removed = await offlineVerify()
    expect(removed.report.ok).toBe(false)
    expect(removed.report.problems.map((p) => p.problem).join('\n')).toMatch(/head file .* is missing/)
    await expect(plane()).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/head file is missing/) })

    writeFileSync(headFile(), '')
    cp = await plane()
    await appendN(cp, 1)
    await cp.close()
    expect((await offlineVerify()).report).toMatchObject({ ok: true, records: 7, headState: 'ok' })
  })

  it('checkpoints signed by another key are reported, and a key replaced together with every signature shows against a pinned key', async () => {
    const cp = await plane()
    await appendN(cp, 4)
    await cp.close()
    const pem = readFileSync(keyFile(), 'utf8')
    const config = configOf()
    const keyCmd = localCommands(() => config).find((c) => c.words.join(' ') === 'audit key')!
    let printed: { publicKey: string; id: string } | undefined
    await keyCmd.run({
      values: { json: true },
      positionals: [],
      api: () => Promise.reject(new Error('offline')),
      io: { json: true, out() {}, info() {}, print: (v: unknown) => void (printed = v as never) },
      cwd: home,
    })
    const pinned = printed!.publicKey

    writeFileSync(keyFile(), generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }))
    const replaced = await offlineVerify()
    expect(replaced.report.ok).toBe(false)
    expect(replaced.report.problems.map((p) => p.problem).join('\n')).toMatch(new RegExp(`signed by key ${printed!.id}, not by the audit signing key`))

    // The attacker re-signs every checkpoint and the head with the new key: consistent, but not ours.
    const { readSigningKey } = await import('./signing-key.js')
    const { signCheckpoint } = await import('./checkpoint.js')
    const forger = readSigningKey(keyFile())
    const db = openFile()
    for (const c of db.prepare('select * from audit_checkpoints').all() as { seq: number; hash: string; at: string }[]) {
      const f = signCheckpoint(forger, c, c.at)
      db.prepare('update audit_checkpoints set key_id = ?, signature = ? where seq = ?').run(f.keyId, f.signature, c.seq)
    }
    db.close()
    const head = JSON.parse(readFileSync(headFile(), 'utf8')) as { seq: number; hash: string; at: string }
    writeFileSync(headFile(), JSON.stringify(signCheckpoint(forger, head, head.at)))
    expect((await offlineVerify()).report.ok).toBe(true)
    const against = await offlineVerify({ key: pinned })
    expect(against.code).toBe(1)
    expect(against.report.problems[0]!.problem).toMatch(/not by the audit signing key/)
    unlinkSync(keyFile()) // deleting the key does not switch the signature checks off
    const keyless = await offlineVerify()
    expect(keyless.code).toBe(1)
    expect(keyless.report.problems.map((p) => p.problem).join('\n')).toMatch(/no signing key was given/)
    writeFileSync(keyFile(), pem)
    expect((await offlineVerify({ key: pinned })).report.problems.map((p) => p.problem).join('\n')).toMatch(/not by the audit signing key/)
  })

  it('coalesces signing off the append path: a checkpoint per checkpointEveryRecords records, and one at a clean stop', async () => {
    const cp = await plane({ audit: { checkpointEveryRecords: 3, checkpointIntervalMs: 600_000 } })
    await appendN(cp, 7)
    const seqs = () => (cp.svc.store.sqlite!.prepare('select seq from audit_checkpoints order by seq').all() as { seq: number }[]).map((r) => r.seq)
    for (let i = 0; i < 100 && seqs().length < 1; i++) await new Promise((r) => setTimeout(r, 10))
    // A background checkpoint signs the newest record when it runs, so it may land a record or two later.
    const taken = seqs()
    expect(taken.length).toBeGreaterThanOrEqual(1)
    expect(taken.length).toBeLessThanOrEqual(2)
    expect(taken[0]).toBeGreaterThanOrEqual(3)
    if (taken[1] !== undefined) expect(taken[1] - taken[0]!).toBeGreaterThanOrEqual(3)
    await cp.close()
    expect(JSON.parse(readFileSync(headFile(), 'utf8'))).toMatchObject({ seq: 7 })
  })

  it('a crash before the first checkpoint does not make the next start refuse; that start signs the records', async () => {
    const cp = await plane({ audit: { checkpointIntervalMs: 600_000 } })
    await appendN(cp, 2)
    expect(JSON.parse(readFileSync(headFile(), 'utf8'))).toMatchObject({ seq: 0, hash: '0'.repeat(64) })
    await cp.svc.store.close() // as a kill -9 would leave it: no final checkpoint
    const again = await plane()
    try {
      expect(await onlineVerify(again)).toMatchObject({ ok: true, records: 2, signedThrough: 2, headState: 'ok' })
    } finally {
      await again.close()
    }
  })

  it('upgrade: a store written before signed checkpoints still verifies, and its first checkpoint signs the existing head', async () => {
    // The previous code's rows: no stored text, the data in its own column, the same hash formula.
    const { migrations } = await import('../store/migrations/index.js')
    const { Kysely, Migrator, SqliteDialect } = await import('kysely')
    const legacy = new Kysely<any>({ dialect: new SqliteDialect({ database: openFile() }) })
    const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0400'))
    await new Migrator({ db: legacy, provider: { getMigrations: async () => before } }).migrateToLatest()
    let prev = '0'.repeat(64)
    for (let seq = 1; seq <= 3; seq++) {
      const body = { seq, at: '2026-01-01T00:00:00.000Z', actor: 'tok_1 (ci)', project: 'p', action: 'exec', target: `sbx_${seq}`, outcome: 'ok', data: { cmd: ['true'] }, prevHash: prev }
      const hash = createHash('sha256').update(canonicalJson(body)).digest('hex')
      await legacy
        .insertInto('audit')
        .values({ seq, at: body.at, actor: body.actor, project: 'p', action: 'exec', target: body.target, outcome: 'ok', request_id: null, data: JSON.stringify(body.data), prev_hash: prev, hash })
        .execute()
      prev = hash
    }
    await legacy.destroy()
    expect(existsSync(keyFile())).toBe(false)

    const cp = await plane()
    try {
      await cp.svc.audit.append(entry(4))
      const report = await onlineVerify(cp)
      expect(report).toMatchObject({ ok: true, records: 4, signedThrough: 4, unsignedTail: 0 })
      expect(cp.svc.store.sqlite!.prepare('select seq from audit_checkpoints order by seq').all()).toEqual([{ seq: 3 }, { seq: 4 }])
    } finally {
      await cp.close()
    }
  })
})
