/**
 * A real server process killed (SIGKILL) in the middle of a promotion, twice: once while the artifact's
 * transaction is open on the target (on restart: rolled back, nothing applied, the proposal approved
 * again), once after it committed while verification runs (on restart: the promotion resumes and is
 * verified). Never half-applied.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient, type Client, type Proposal } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dataSkip, hostLeftovers, scrubHome, startTestPg, type TestPg } from './support/data-pg.js'
import { createShop, READER_PASSWORD, SHOP_PASSWORD } from './support/data-shop.js'
import { cliPath, skipReason } from './support/host.js'

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting until ${what}`)
}

const exited = (child: ReturnType<typeof spawn>) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r)))
const skip = skipReason ?? dataSkip

describe.skipIf(Boolean(skip))(`a server killed mid-promotion (real server process)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let src: TestPg
  let home: string
  let server: { child: ReturnType<typeof spawn>; url: string } | undefined
  const env = () => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TIDEPOOL_HOME: home,
    TIDEPOOL_PORT: '0',
    TIDEPOOL_ROUTER_PORT: '0',
    TIDEPOOL_CGROUP_NAME: `tidepool-it-gatecrash-${process.pid}`,
    TIDEPOOL_LOG_LEVEL: 'info',
  })
  const start = async () => {
    const child = spawn(process.execPath, [cliPath, 'up'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    await until(() => /listening on (http:\/\/\S+)/.test(stderr), `the server starts (${stderr})`, 120_000)
    return { child, url: /listening on (http:\/\/\S+)/.exec(stderr)![1]! }
  }
  const kill = async () => {
    server!.child.kill('SIGKILL')
    await exited(server!.child)
  }
  const shop = (sql: string) => src.sql<Record<string, unknown>>('shop', sql)
  const busy = (app: string) => async () => (await src.sql('shop', `SELECT 1 FROM pg_stat_activity WHERE application_name = '${app}' AND state = 'active' AND query LIKE '%pg_sleep%'`)).length > 0
  let admin: Client
  let agent: Client
  let reviewer: Client
  const clients = (url: string, tokens: { admin: string; agent: string; reviewer: string }) => {
    admin = createClient({ baseUrl: url, token: tokens.admin, timeoutMs: 120_000 })
    agent = createClient({ baseUrl: url, token: tokens.agent, timeoutMs: 120_000 })
    reviewer = createClient({ baseUrl: url, token: tokens.reviewer, timeoutMs: 120_000 })
  }
  const tokens = { admin: '', agent: '', reviewer: '' }

  beforeAll(async () => {
    src = await startTestPg('gatecrash')
    await createShop(src, 30)
    // Production only: how long the verification sleeps (the test sets it to 0 before the restart).
    await shop('CREATE TABLE public.crash_flag (s int NOT NULL); INSERT INTO public.crash_flag VALUES (30); GRANT SELECT ON public.crash_flag TO shop, reader')
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-gatecrash-'))
    server = await start()
    tokens.admin = readFileSync(join(home, 'admin.token'), 'utf8').trim()
    clients(server.url, tokens)
    tokens.agent = (await admin.createToken({ project: 'default', name: 'agent', scopes: ['gate:read', 'gate:propose'] })).token
    tokens.reviewer = (await admin.createToken({ project: 'default', name: 'reviewer', scopes: ['gate:read', 'gate:approve', 'gate:promote'] })).token
    clients(server.url, tokens)
    const source = await admin.createDataSource({ url: src.url('reader', READER_PASSWORD, 'shop') })
    await admin.createMirror({ id: source.id, name: 'shop', sample: { percent: 100 } })
    await admin.createGateTarget({ name: 'prod', url: src.url('shop', SHOP_PASSWORD, 'shop'), mirror: 'shop' })
  }, 240_000)

  afterAll(async () => {
    try {
      if (server) {
        server.child.kill('SIGTERM')
        await exited(server.child)
      }
      await src?.stop()
      if (home) expect(hostLeftovers(home)).toEqual([])
    } finally {
      if (home) await scrubHome(home)
    }
  }, 120_000)

  const approved = async (artifact: string, verify?: string): Promise<Proposal> => {
    const p = await agent.createProposal({ target: 'prod', artifact, rollback: 'SELECT 1', intent: 'crash test', ...(verify ? { verify } : {}) })
    expect(p.decision?.verdict).toBe('pass')
    return reviewer.approveProposal({ id: p.id, hash: p.hash })
  }

  it('killed while the artifact runs: on restart nothing was applied and the proposal is approved again', async () => {
    // Sleeps only on the target (the promotion's connection), not in the rehearsal.
    const p = await approved("UPDATE orders SET total = total + 1000 WHERE id = 1; SELECT pg_sleep(CASE WHEN current_setting('application_name') = 'tidepool-gate-promotion' THEN 60 ELSE 0 END)")
    const before = await shop('SELECT total::text FROM orders WHERE id = 1')
    const promoting = reviewer.promoteProposal({ id: p.id, hash: p.hash }).catch(() => 'lost with the server')
    await until(busy('tidepool-gate-promotion'), 'the artifact runs on the target')
    await kill()
    expect(await promoting).toBe('lost with the server')
    server = await start()
    clients(server.url, tokens)
    const after = await reviewer.getProposal({ id: p.id })
    expect(after).toMatchObject({ state: 'approved', promotion: { error: expect.stringContaining('nothing was applied') } })
    expect(await shop('SELECT total::text FROM orders WHERE id = 1')).toEqual(before)
    await until(async () => !(await busy('tidepool-gate-promotion')()), 'no promotion backend is left on the target', 30_000)
    const chain = (await admin.listAudit({ target: p.id, limit: 100 })).items.map((r) => r.action).filter((a) => a.startsWith('gate:'))
    expect(chain.at(-1)).toBe('gate:promotion_interrupted')
  }, 240_000)

  it('killed while verification runs after the commit: on restart the promotion resumes and is verified', async () => {
    const p = await approved('UPDATE orders SET total = total + 1 WHERE id = 2', 'SELECT count(*) = 1 FROM (SELECT pg_sleep(s) FROM public.crash_flag) x')
    const before = Number((await shop('SELECT total::text AS t FROM orders WHERE id = 2'))[0]!.t)
    const promoting = reviewer.promoteProposal({ id: p.id, hash: p.hash }).catch(() => 'lost with the server')
    await until(busy('tidepool-gate-verify'), 'the verification runs on the target')
    await kill()
    expect(await promoting).toBe('lost with the server')
    await shop('UPDATE public.crash_flag SET s = 0')
    server = await start()
    clients(server.url, tokens)
    expect(await reviewer.getProposal({ id: p.id })).toMatchObject({ state: 'verified', promotion: { verified: true } })
    // Applied exactly once.
    expect(Number((await shop('SELECT total::text AS t FROM orders WHERE id = 2'))[0]!.t)).toBe(before + 1)
  }, 240_000)
})
