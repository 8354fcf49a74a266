/**
 * The sandbox-first gate against real PostgreSQL through the real HTTP server and the SDK client: a
 * production database (the shop) with its mirror; proposals rehearsed on clones, decided, approved by
 * another principal for the hash they reviewed, promoted with a fresh fingerprint under the target's
 * lock, verified, rolled back; standing approvals; the audit chain; the CLI.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient, type Client, type Proposal } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { cliRunner } from './support/cli.js'
import { dataSkip, hostLeftovers, scrubHome, startTestPg, tempDir, type TestPg } from './support/data-pg.js'
import { createShop, fingerprint, READER_PASSWORD, SHOP_PASSWORD } from './support/data-shop.js'

describe.skipIf(Boolean(dataSkip))(`sandbox-first gate on real PostgreSQL${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let home: string
  let cp: ControlPlane
  let url: string
  let admin: Client
  /** An agent: may propose and read, not approve or promote. */
  let agent: Client
  let agentToken: string
  /** Reviewers: may approve and promote (and propose). */
  let alice: Client
  let bob: Client
  const shop = (sql: string) => src.sql<Record<string, unknown>>('shop', sql)

  beforeAll(async () => {
    src = await startTestPg('gate')
    await createShop(src, 60)
    home = tempDir('tp-gate-')
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        data: { dir: join(home, 'data'), socketDir: join(home, 's'), warmClones: 0 },
        gate: { standingApproval: { after: 2, windowSeconds: 3600 } },
      },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false, runtime: new FakeRuntime() })
    url = (await cp.listen()).url
    admin = createClient({ baseUrl: url, token: cp.adminToken!, timeoutMs: 120_000 })
    const token = async (name: string, scopes: ('gate:read' | 'gate:propose' | 'gate:approve' | 'gate:promote' | 'audit:read')[]) =>
      (await admin.createToken({ project: 'default', name, scopes })).token
    agentToken = await token('agent', ['gate:read', 'gate:propose'])
    agent = createClient({ baseUrl: url, token: agentToken, timeoutMs: 120_000 })
    alice = createClient({ baseUrl: url, token: await token('alice', ['gate:read', 'gate:propose', 'gate:approve', 'gate:promote']), timeoutMs: 120_000 })
    bob = createClient({ baseUrl: url, token: await token('bob', ['gate:read', 'gate:approve', 'gate:promote']), timeoutMs: 120_000 })
    const source = await admin.createDataSource({ url: src.url('reader', READER_PASSWORD, 'shop') })
    await admin.createMirror({ id: source.id, name: 'shop', sample: { percent: 100 } })
    const target = await admin.createGateTarget({ name: 'shop-prod', url: src.url('shop', SHOP_PASSWORD, 'shop'), mirror: 'shop', settings: { lockTimeoutMs: 1000, statementTimeoutMs: 20_000 } })
    expect(target).toMatchObject({ name: 'shop-prod', url: expect.stringContaining('shop:***@') })
  })

  afterAll(async () => {
    try {
      await cp?.close()
      await src?.stop()
      if (home) expect(hostLeftovers(home)).toEqual([])
    } finally {
      if (home) await scrubHome(home)
    }
  })

  const propose = (c: Client, artifact: string, more: Partial<Parameters<Client['createProposal']>[0]> = {}) => c.createProposal({ target: 'shop-prod', artifact, intent: 'test change', ...more })

  it('keeps production credentials server-side: never in a view, a list or the audit', async () => {
    const everything = JSON.stringify([await admin.listGateTargets({}), await admin.getGateTarget({ id: 'shop-prod' }), await admin.listAudit({ limit: 1000 })])
    expect(everything).not.toContain(SHOP_PASSWORD)
    expect(everything).toContain('shop-prod')
  })

  it('a safe migration passes, is approved by another principal for its hash, promoted, verified; the chain is in the audit', async () => {
    const p = await propose(agent, 'ALTER TABLE orders ADD COLUMN gift boolean NOT NULL DEFAULT false;\nUPDATE orders SET gift = true WHERE id <= 3;', {
      rollback: 'ALTER TABLE orders DROP COLUMN gift',
      verify: 'SELECT count(*) = 3 FROM orders WHERE gift',
      expect: { tables: ['orders'], destructive: false, heavyLocks: false },
    })
    expect(p.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(p.classification).toMatchObject({ category: 'ddl', destructive: false, heavyLocks: false })
    expect(p.decision).toMatchObject({ verdict: 'pass' })
    expect(p.state).toBe('rehearsed')
    expect(p.evidence!.tables).toEqual([{ table: 'public.orders', inserted: 0, updated: 3, deleted: 0, rowsBefore: 180, rowsAfter: 180 }])
    expect(p.evidence!.schemaDiff.added).toEqual(['column public.orders.gift boolean not null default false'])
    expect(p.evidence!.locks).toContainEqual({ table: 'public.orders', mode: 'AccessExclusiveLock', source: 'observed' })
    expect(p.evidence!.mirrorDrift).toEqual([])
    expect(p.evidence!.hash).toMatch(/^[0-9a-f]{64}$/)
    // The rehearsal ran on a clone: production has no such column yet.
    expect(await shop("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'gift'")).toEqual([{ n: 0 }])

    // The agent proposes, never approves or promotes (its token lacks the scopes).
    await expect(agent.approveProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(agent.promoteProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'policy_denied' })
    // Approval binds to the hash reviewed.
    await expect(alice.approveProposal({ id: p.id, hash: 'a'.repeat(64) })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_hash_mismatch' } })
    // Not approved: not promoted.
    await expect(alice.promoteProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_not_approved' } })
    const approved = await alice.approveProposal({ id: p.id, hash: p.hash })
    expect(approved).toMatchObject({ state: 'approved', approval: { hash: p.hash } })
    // A change that writes without a rollback plan is not approved.
    const bare = await propose(agent, 'UPDATE employees SET name = name WHERE id = 5')
    expect(bare.decision?.verdict).toBe('pass')
    await expect(alice.approveProposal({ id: bare.id, hash: bare.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_no_rollback' } })
    const done = await bob.promoteProposal({ id: p.id, hash: p.hash })
    expect(done).toMatchObject({ state: 'verified', promotion: { verified: true } })
    expect(await shop('SELECT count(*)::int AS n FROM orders WHERE gift')).toEqual([{ n: 3 }])

    const chain = (await admin.listAudit({ target: p.id, limit: 100 })).items.map((r) => r.action).filter((a) => a.startsWith('gate:'))
    expect(chain).toEqual(['gate:proposed', 'gate:rehearsed', 'gate:evidence', 'gate:decision', 'gate:approval', 'gate:promoted', 'gate:verified'])
    const records = (await admin.listAudit({ target: p.id, limit: 100 })).items.filter((r) => r.action.startsWith('gate:'))
    for (const r of records) expect((r.data as { hash: string }).hash).toBe(p.hash)
    expect(records.find((r) => r.action === 'gate:evidence')?.data).toMatchObject({ evidenceHash: p.evidence!.hash, rowsChanged: 3 })
  })

  it('catches destructive changes with evidence: DROP COLUMN with data, UPDATE without WHERE; a fail is never approved', async () => {
    const drop = await propose(agent, 'ALTER TABLE orders DROP COLUMN note')
    expect(drop.decision?.verdict).toBe('fail')
    expect(drop.evidence!.droppedWithData).toEqual(['column public.orders.note (180 values)'])
    expect(drop.evidence!.schemaDiff.removed).toEqual(['column public.orders.note text'])
    expect(drop.decision!.reasons.join('\n')).toMatch(/DROP COLUMN public.orders.note/)
    await expect(alice.approveProposal({ id: drop.id, hash: drop.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_not_passed' } })

    const wipe = await propose(agent, "UPDATE customers SET phone = '000'")
    expect(wipe.decision?.verdict).toBe('fail')
    expect(wipe.evidence!.tables).toEqual([{ table: 'public.customers', inserted: 0, updated: 60, deleted: 0, rowsBefore: 60, rowsAfter: 60 }])
    expect(wipe.evidence!.rowsChanged).toBe(60)
    expect(await shop("SELECT count(*)::int AS n FROM customers WHERE phone = '000'")).toEqual([{ n: 0 }])
    // A statement that fails in the rehearsal fails the proposal, naming the statement.
    const broken = await propose(agent, 'UPDATE orders SET total = 1 WHERE id = 1; INSERT INTO orders (customer_id, total) VALUES (999999, 1)')
    expect(broken.decision?.verdict).toBe('fail')
    expect(broken.evidence!.error).toMatchObject({ statement: 2, code: '23503' })
  })

  it('refuses bad input quickly with nothing stored: SQL that does not parse, BEGIN/COMMIT, an unknown target', async () => {
    const before = (await admin.listProposals({ limit: 1000 })).items.length
    await expect(propose(agent, 'UPDAT orders SET x = 1')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('SQL does not parse') })
    await expect(propose(agent, 'BEGIN; UPDATE orders SET total = 1 WHERE id = 1; COMMIT')).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(propose(agent, 'CREATE INDEX CONCURRENTLY o_total ON orders (total)')).rejects.toMatchObject({ code: 'invalid_request', details: { reason: 'gate_not_transactional' } })
    await expect(agent.createProposal({ target: 'nope', artifact: 'SELECT 1', intent: 'x' })).rejects.toMatchObject({ code: 'not_found' })
    expect((await admin.listProposals({ limit: 1000 })).items.length).toBe(before)
  })

  it('self-approval is refused with a stable code; an operator override needs a reason and another principal', async () => {
    const p = await propose(alice, 'CREATE INDEX orders_total ON orders (total)', { rollback: 'DROP INDEX orders_total' })
    expect(p.decision).toMatchObject({ verdict: 'inconclusive' })
    await expect(alice.approveProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'policy_denied', details: { reason: 'gate_self_approval' } })
    await expect(bob.approveProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_not_passed' } })
    await expect(alice.overrideProposal({ id: p.id, reason: 'small table' })).rejects.toMatchObject({ code: 'policy_denied', details: { reason: 'gate_self_approval' } })
    const o = await bob.overrideProposal({ id: p.id, reason: 'orders is small; the lock lasts milliseconds' })
    expect(o.decision).toMatchObject({ verdict: 'pass', skip: 'override', reasons: [expect.stringContaining('orders is small')] })
    await expect(alice.approveProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'policy_denied', details: { reason: 'gate_self_approval' } })
    await bob.approveProposal({ id: p.id, hash: p.hash })
    expect((await alice.promoteProposal({ id: p.id, hash: p.hash })).state).toBe('verified')
    expect(await shop("SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'orders_total'")).toEqual([{ n: 1 }])
  })

  it('an approval of hash A cannot promote hash B', async () => {
    const a = await propose(agent, 'UPDATE employees SET name = name WHERE id = 1', { rollback: 'SELECT 1' })
    const b = await propose(agent, 'UPDATE employees SET name = name WHERE id = 2', { rollback: 'SELECT 1' })
    await alice.approveProposal({ id: a.id, hash: a.hash })
    await expect(bob.promoteProposal({ id: a.id, hash: b.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_hash_mismatch' } })
    await expect(bob.promoteProposal({ id: b.id, hash: b.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_not_approved' } })
    await expect(bob.promoteProposal({ id: b.id, hash: a.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_hash_mismatch' } })
    expect((await bob.promoteProposal({ id: a.id, hash: a.hash })).state).toBe('verified')
  })

  it('a stale target is refused; a new rehearsal and approval promote it', async () => {
    const p = await propose(agent, "UPDATE tags SET label = 'x' WHERE ns = 'ns1'", {
      rollback: "UPDATE tags SET label = 'Tag ' || substr(tag, 4) WHERE ns = 'ns1'",
      expect: { maxRowsChanged: 100, destructive: false, heavyLocks: false },
    })
    await alice.approveProposal({ id: p.id, hash: p.hash })
    await shop("INSERT INTO tags VALUES ('ns9', 'late', 'arrived after the rehearsal')")
    await expect(bob.promoteProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_stale' } })
    expect(await shop("SELECT count(*)::int AS n FROM tags WHERE label = 'x'")).toEqual([{ n: 0 }])
    const again = await agent.rehearseProposal({ id: p.id })
    expect(again).toMatchObject({ state: 'rehearsed', decision: { verdict: 'pass' } })
    expect(again.approval).toBeUndefined()
    await alice.approveProposal({ id: p.id, hash: p.hash })
    expect((await bob.promoteProposal({ id: p.id, hash: p.hash })).state).toBe('verified')
  })

  it('the target lock: contention refused with owner and expiry, lapses after its TTL, force-unlock is admin-only and audited', async () => {
    const p = await propose(agent, 'UPDATE employees SET name = name WHERE id = 3', { rollback: 'SELECT 1' })
    await alice.approveProposal({ id: p.id, hash: p.hash })
    const locked = await alice.lockGateTarget({ id: 'shop-prod', reason: 'maintenance window', ttlSeconds: 1 })
    expect(locked.lock).toMatchObject({ reason: 'maintenance window' })
    await expect(bob.promoteProposal({ id: p.id, hash: p.hash })).rejects.toMatchObject({ code: 'conflict', details: { reason: 'gate_locked', owner: locked.lock!.owner } })
    await expect(bob.lockGateTarget({ id: 'shop-prod', reason: 'mine', ttlSeconds: 60 })).rejects.toMatchObject({ code: 'conflict' })
    await sleep(1100) // past the TTL
    expect((await bob.getGateTarget({ id: 'shop-prod' })).lock).toBeUndefined()
    const mine = await bob.lockGateTarget({ id: 'shop-prod', reason: 'bob holds it', ttlSeconds: 600 })
    await expect(alice.unlockGateTarget({ id: 'shop-prod' })).rejects.toMatchObject({ code: 'conflict' })
    await expect(alice.unlockGateTarget({ id: 'shop-prod', force: 'true' })).rejects.toMatchObject({ code: 'policy_denied' })
    // Bob's own lock does not stop Bob's promotion (it is his), and the promotion leaves a lock it did not take.
    expect((await bob.promoteProposal({ id: p.id, hash: p.hash })).state).toBe('verified')
    expect((await bob.getGateTarget({ id: 'shop-prod' })).lock).toMatchObject({ owner: mine.lock!.owner, reason: 'bob holds it' })
    await bob.lockGateTarget({ id: 'shop-prod', reason: 'bob again', ttlSeconds: 600 })
    const freed = await admin.unlockGateTarget({ id: 'shop-prod', force: 'true' })
    expect(freed.lock).toBeUndefined()
    expect((await admin.unlockGateTarget({ id: 'shop-prod' })).lock).toBeUndefined() // idempotent
    const forced = (await admin.listAudit({ action: 'gate:force-unlock', limit: 10 })).items
    expect(forced.at(-1)).toMatchObject({ data: { owner: mine.lock!.owner, reason: 'bob again' } })
  })

  it('a failing verification runs the rollback and restores the target', async () => {
    // Earlier promotions changed orders (a column, an index): the mirror follows production once refreshed.
    await admin.refreshMirror({ id: 'shop', wait: true })
    const before = await fingerprint((sql) => shop(sql) as never)
    const p = await propose(agent, 'UPDATE orders SET total = total + 1 WHERE id = 7', {
      rollback: 'UPDATE orders SET total = total - 1 WHERE id = 7',
      verify: 'SELECT total > 100000 FROM orders WHERE id = 7',
    })
    await alice.approveProposal({ id: p.id, hash: p.hash })
    const done = await bob.promoteProposal({ id: p.id, hash: p.hash })
    expect(done).toMatchObject({ state: 'rolled_back', promotion: { verified: false, rolledBack: true, error: expect.stringContaining('verification failed') } })
    expect(await fingerprint((sql) => shop(sql) as never)).toEqual(before)
    const chain = (await admin.listAudit({ target: p.id, limit: 100 })).items.map((r) => r.action).filter((a) => a.startsWith('gate:'))
    expect(chain.slice(-2)).toEqual(['gate:promoted', 'gate:rolled_back'])
  })

  it('a read-only artifact skips the rehearsal; it is promoted in a READ ONLY transaction', async () => {
    const p = await propose(agent, 'SELECT count(*) FROM orders')
    expect(p).toMatchObject({ state: 'rehearsed', decision: { verdict: 'pass', skip: 'read-only' } })
    expect(p.evidence).toBeUndefined()
  })

  it('a standing approval after N clean identical rehearsals (N = 2 here), revoked by one failure', async () => {
    const artifact = 'UPDATE employees SET name = name WHERE id = 42'
    for (let i = 0; i < 2; i++) expect((await propose(agent, artifact)).decision).toMatchObject({ verdict: 'pass' })
    const standing = await propose(agent, artifact, { verify: 'SELECT false', intent: 'third time' })
    expect(standing).toMatchObject({ state: 'approved', decision: { verdict: 'pass', skip: 'standing' }, approval: { by: 'system:gate-standing', hash: standing.hash } })
    expect(standing.evidence).toBeUndefined()
    // Its promotion fails verification (no rollback given): failed, and the standing approval is gone.
    expect((await bob.promoteProposal({ id: standing.id, hash: standing.hash })).state).toBe('failed')
    const after = await propose(agent, artifact)
    expect(after.decision?.skip).toBeUndefined()
    expect(after).toMatchObject({ state: 'rehearsed', decision: { verdict: 'pass' } })
  })

  it('lists proposals paginated and filtered; the CLI proposes, lists and shows with --json', async () => {
    const first = await admin.listProposals({ limit: 2 })
    expect(first.items).toHaveLength(2)
    const second = await admin.listProposals({ limit: 2, nextToken: first.nextToken! })
    expect(second.items[0]!.id > first.items[1]!.id).toBe(true)
    expect((await admin.listProposals({ state: 'verified', limit: 1000 })).items.every((p: Proposal) => p.state === 'verified')).toBe(true)
    const cli = cliRunner({ PATH: process.env.PATH ?? '/usr/bin:/bin', TIDEPOOL_URL: url, TIDEPOOL_TOKEN: agentToken, HOME: home })
    const made = await cli('propose', 'shop-prod', '--sql', 'UPDATE employees SET name = name WHERE id = 9', '--intent', 'from the CLI', '--json')
    expect(made.status, made.stderr).toBe(0)
    const p = JSON.parse(made.stdout) as Proposal
    expect(p).toMatchObject({ intent: 'from the CLI', decision: { verdict: 'pass' } })
    const ls = await cli('gate', 'ls', '--target', 'shop-prod', '--json')
    expect((JSON.parse(ls.stdout) as { items: Proposal[] }).items.map((x) => x.id)).toContain(p.id)
    const shown = await cli('gate', 'show', p.id)
    expect(shown.stdout).toContain(`hash:      ${p.hash}`)
    expect(shown.stdout).toContain('rollback:  (none')
    const denied = await cli('promote', p.id, '--hash', p.hash)
    expect(denied.status).toBe(77)
  })
})
