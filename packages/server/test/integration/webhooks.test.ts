/**
 * Where teams already work (issue #16 part 4), through a real listening server: GitHub Actions payloads
 * (signed like GitHub signs them) create runs; finishing a run sends signed webhooks to a loopback
 * receiver and keeps one PR comment and a check run up to date on a loopback server that answers like
 * the GitHub REST API (GitHub is not reachable here); the approve link of that comment applies the
 * remediation through dispatch as the bound identity; forged, expired and revoked links are refused.
 */
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TokenService } from '../../src/access/tokens.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { FakeRuntime } from '../../src/runtime/fake.js'
import { openStore } from '../../src/store/db.js'
import { startReceiver, type Receiver } from '../../src/testing/loopback-receiver.js'
import { verifyDelivery } from '../../src/webhooks/signing.js'
import { type FakeGithub, startGithubApi } from './support/github-api.js'

const fixtures = join(import.meta.dirname, '../../src/webhooks/github/fixtures')
const ghSecret = 'whsec-github-test'
const json = async (r: Response) => (await r.json()) as Record<string, any>

let dir: string
let cp: ControlPlane
let base: string
let gh: FakeGithub
let rx: Receiver
let ci: string
let approverId: string
let tokens: { ci: string; runsAs: string; approver: string }
let t = Date.parse('2026-01-01T12:00:00Z')
const clock = { now: () => t }

const api = (method: string, path: string, o: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) =>
  fetch(`${base}${path}`, {
    method,
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : o.raw !== undefined ? { body: o.raw } : {}),
  })

const github = (event: string, payload: unknown, secret = ghSecret) => {
  const raw = JSON.stringify(payload)
  return api('POST', '/v1/github/webhook', {
    raw,
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`,
    },
  })
}

const report = (fail: boolean) =>
  `<testsuites name="vitest tests"><testsuite name="src/cart.test.ts">${Array.from({ length: 20 }, (_, i) => `<testcase classname="src/cart.test.ts" name="case ${i}" time="0.01"/>`).join('')}<testcase classname="src/cart.test.ts" name="totals round" time="0.2">${fail ? '<failure message="socket hang up">Error: socket hang up</failure>' : ''}</testcase></testsuite></testsuites>`

async function settle() {
  await cp.svc.webhooks.settle()
  await cp.svc.github!.adapter.settle()
}

describe('webhooks and the GitHub adapter', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-it-webhooks-'))
    const storeUrl = `sqlite:${join(dir, 'store.db')}`
    // The identities the config names exist before the server starts (as an operator would make them).
    const store = await openStore(storeUrl)
    const ts = new TokenService(store.db, clock)
    const made = {
      ci: await ts.create({ project: 'shop', scopes: ['runs:write', 'insights:read', 'insights:write'], name: 'ci' }),
      runsAs: await ts.create({ project: 'shop', scopes: ['runs:write'], name: 'github-actions' }),
      approver: await ts.create({ project: 'shop', scopes: ['insights:write', 'insights:read'], name: 'release-captain' }),
    }
    await store.close()
    tokens = { ci: made.ci.token, runsAs: made.runsAs.id, approver: made.approver.id }
    ci = made.ci.token
    approverId = made.approver.id
    gh = await startGithubApi()
    rx = await startReceiver()
    const config = loadConfig({
      env: {},
      overrides: {
        home: join(dir, 'home'),
        storeUrl,
        port: 0,
        logLevel: 'silent',
        webhooks: { backoffBaseMs: 10, github: { enabled: true, apiUrl: gh.url, runsAs: tokens.runsAs, approver: tokens.approver, linkTtlSeconds: 3600 } },
      },
    })
    cp = await buildControlPlane(config, {
      runtime: new FakeRuntime(),
      clock,
      logger: silentLogger,
      reaper: false,
      env: { GITHUB_TOKEN: 'ghp_test_token', TIDEPOOL_GITHUB_WEBHOOK_SECRET: ghSecret },
    })
    base = (await cp.listen()).url
  })
  afterAll(async () => {
    await cp?.close()
    await gh?.close()
    await rx?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('GitHub workflow_run and check_suite payloads create runs; a bad or missing signature creates nothing', async () => {
    const wr = JSON.parse(readFileSync(join(fixtures, 'workflow_run.completed.json'), 'utf8'))
    const forged = await github('workflow_run', wr, 'not-the-secret')
    expect(forged.status).toBe(401)
    expect((await json(forged)).error).toMatchObject({ code: 'unauthenticated', details: { reason: 'bad_signature' } })
    const unsigned = await api('POST', '/v1/github/webhook', { raw: JSON.stringify(wr), headers: { 'x-github-event': 'workflow_run' } })
    expect(unsigned.status).toBe(401)
    expect((await api('GET', '/v1/runs/gh-700100200-wr-9876543210-2', { token: ci })).status).toBe(404)

    const created = await github('workflow_run', wr)
    expect(created.status).toBe(201)
    expect((await json(created)).run).toMatchObject({ id: 'gh-700100200-wr-9876543210-2', commit: wr.workflow_run.head_sha, branch: 'feature/cart-totals', pr: '42', attempt: 2, pipeline: 'CI' })
    // GitHub redelivers: the same run.
    expect((await github('workflow_run', wr)).status).toBe(201)
    const cs = await github('check_suite', JSON.parse(readFileSync(join(fixtures, 'check_suite.completed.json'), 'utf8')))
    expect((await json(cs)).run).toMatchObject({ id: 'gh-700100200-cs-22334455667', pr: '42', attempt: 1 })
    expect((await github('ping', { zen: 'Design for failure.', hook_id: 1 })).status).toBe(202)
    const run = await json(await api('GET', '/v1/runs/gh-700100200-wr-9876543210-2', { token: ci }))
    expect(run).toMatchObject({ project: 'shop', status: 'running' })
  })

  it('finishing a run sends signed webhooks and posts one PR comment and a check run', async () => {
    const sub = await api('POST', '/v1/webhooks', {
      token: ci,
      body: { url: `${rx.url}/tidepool`, events: ['triage.summary', 'remediation.proposed', 'remediation.approved', 'remediation.rejected'] },
    })
    expect(sub.status).toBe(201)
    const hook = await json(sub)
    expect(hook.secret).toMatch(/^whsec_/)
    expect((await json(await api('GET', '/v1/webhooks', { token: ci }))).items[0]).not.toHaveProperty('secret')

    // A flaky history on main, so the PR's failure is recognised and a rerun proposed (suggest mode).
    for (let i = 0; i < 8; i++) {
      const fail = i % 3 === 1
      await api('POST', '/v1/runs', { token: ci, body: { id: `m${i}`, commit: `c${i}`, branch: 'main' } })
      await api('POST', `/v1/runs/m${i}/junit`, { token: ci, raw: report(fail), headers: { 'content-type': 'application/xml' } })
      if (fail) {
        await api('POST', '/v1/runs', { token: ci, body: { id: `m${i}b`, commit: `c${i}`, branch: 'main', attempt: 2 } })
        await api('POST', `/v1/runs/m${i}b/junit`, { token: ci, raw: report(false), headers: { 'content-type': 'application/xml' } })
      }
    }
    const runId = 'gh-700100200-wr-9876543210-2'
    await api('POST', `/v1/runs/${runId}/junit`, { token: ci, raw: report(true), headers: { 'content-type': 'application/xml' } })
    const fin = await json(await api('POST', `/v1/runs/${runId}/finish`, { token: ci, body: {} }))
    const suggested = fin.remediations.filter((r: { status: string }) => r.status === 'suggested')
    expect(suggested.length).toBeGreaterThan(0)
    await settle()

    const events = rx.received.map((r) => r.headers['x-tidepool-event'])
    expect(events).toContain('triage.summary')
    expect(events.filter((e) => e === 'remediation.proposed')).toHaveLength(suggested.length)
    for (const r of rx.received) {
      expect(verifyDelivery(hook.secret, { signature: r.headers['x-tidepool-signature'] as string, timestamp: r.headers['x-tidepool-timestamp'] as string }, r.body, Math.floor(t / 1000))).toBe(true)
    }
    const summary = JSON.parse(rx.received.find((r) => r.headers['x-tidepool-event'] === 'triage.summary')!.body)
    expect(summary.data).toMatchObject({ run: { id: runId }, verdict: expect.any(String), markdown: expect.stringContaining('totals round') })

    const log = await json(await api('GET', `/v1/webhooks/${hook.id}/deliveries?limit=2`, { token: ci }))
    expect(log.items).toHaveLength(2)
    expect(log.nextToken).toBeDefined()
    expect(log.items[0]).toMatchObject({ status: 'delivered', attempts: 1, statusCode: 200 })

    // GitHub: a comment on PR 42 with the marker and links, a check run on the head commit; the token went in the header only.
    expect(gh.comments.size).toBe(1)
    const [comment] = [...gh.comments.values()]
    expect(comment).toMatchObject({ repo: 'octo-org/shop', pr: '42' })
    expect(comment!.body).toContain('<!-- tidepool:triage -->')
    expect(comment!.body).toContain(suggested[0].id)
    expect(comment!.body).toMatch(/\[approve\]\(http:\/\/127\.0\.0\.1:\d+\/v1\/links\/remediations\?t=/)
    const checks = [...gh.checkRuns.values()]
    expect(checks).toHaveLength(1)
    expect(checks[0]).toMatchObject({ name: 'tidepool', head_sha: '5b2a8e1c9f3d4e6a7b8c9d0e1f2a3b4c5d6e7f80', status: 'completed', conclusion: expect.any(String) })
    expect(gh.calls.every((c) => c.path.startsWith('/api/v3/repos/octo-org/shop/'))).toBe(true)
    expect(gh.calls.every((c) => c.headers['x-github-api-version'] === '2022-11-28')).toBe(true)

    // Triaged again (finish repeated): the same comment is edited, the same check run updated.
    const before = gh.calls.length
    await api('POST', `/v1/runs/${runId}/finish`, { token: ci, body: {} })
    await settle()
    const again = gh.calls.slice(before).map((c) => `${c.method} ${c.path.split('?')[0]}`)
    expect(again).toEqual([
      'GET /api/v3/repos/octo-org/shop/issues/42/comments',
      `PATCH /api/v3/repos/octo-org/shop/issues/comments/${comment!.id}`,
      `PATCH /api/v3/repos/octo-org/shop/check-runs/${checks[0]!.id}`,
    ])
    expect(gh.comments.size).toBe(1)
    expect(gh.checkRuns.size).toBe(1)
  })

  it('the approve link applies the remediation through dispatch as the bound identity; forged and expired links are refused', async () => {
    const comment = [...gh.comments.values()][0]!.body
    const links = [...comment.matchAll(/\[(approve|reject)\]\((http[^)]+)\)/g)].map((m) => ({ decision: m[1]!, url: m[2]! }))
    const approve = links.find((l) => l.decision === 'approve')!
    const remId = /`(rem_[a-z0-9]+)`/.exec(comment)![1]!

    // GET only asks: nothing changes.
    const page = await fetch(approve.url)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain(`<form method="post"`)
    expect((await json(await api('GET', `/v1/insights/remediations?limit=100`, { token: ci }))).items.find((r: { id: string }) => r.id === remId).status).toBe('suggested')

    const forged = approve.url.replace(/t=([^.]+)\.(.)/, (_m, c: string, ch: string) => `t=${c}.${ch === 'A' ? 'B' : 'A'}`)
    const bad = await fetch(forged, { method: 'POST' })
    expect(bad.status).toBe(401)
    expect((await json(bad)).error).toMatchObject({ code: 'unauthenticated', details: { reason: 'link_invalid' } })

    const applied = await fetch(approve.url, { method: 'POST' })
    expect(applied.status).toBe(200)
    expect(await json(applied)).toMatchObject({ id: remId, status: 'applied', decidedBy: expect.stringContaining(approverId) })
    // Through dispatch: audited as the approver's call.
    const audit = await json(await cp.app.request('/v1/audit?limit=1000', { headers: { authorization: `Bearer ${cp.adminToken}` } }))
    const record = audit.items.find((a: { action: string; target?: string }) => a.action === 'applyRemediation' && a.target === remId)
    expect(record).toMatchObject({ actor: expect.stringContaining(approverId), project: 'shop', outcome: 'ok' })
    await settle()
    expect(rx.received.some((r) => r.headers['x-tidepool-event'] === 'remediation.approved' && JSON.parse(r.body).data.remediation.id === remId)).toBe(true)
    // Used again: the remediation is decided already.
    const twice = await fetch(approve.url, { method: 'POST' })
    expect(twice.status).toBe(409)

    // A link made by the API for the caller, then past its expiry: refused before anything is looked up.
    const made = await json(await api('POST', `/v1/insights/remediations/${remId}/links`, { token: ci, body: { decision: 'reject', ttlSeconds: 60 } }))
    expect(made.url).toContain('/v1/links/remediations?t=')
    t += 61_000
    const expired = await fetch(made.url, { method: 'POST' })
    expect(expired.status).toBe(401)
    expect((await json(expired)).error).toMatchObject({ code: 'unauthenticated', details: { reason: 'link_expired' } })
    expect((await fetch(made.url)).status).toBe(401) // the confirmation page too
    const still = (await json(await api('GET', '/v1/insights/remediations?limit=100', { token: ci }))).items.find((r: { id: string }) => r.id === remId)
    expect(still.status).toBe('applied')
  })

  it('a link stops working when its token is revoked', async () => {
    const sub = await json(await api('GET', '/v1/insights/remediations?limit=100', { token: ci }))
    const anyRem = sub.items[0]
    const admin = cp.adminToken!
    const tok = await json(await api('POST', '/v1/tokens', { token: admin, body: { project: 'shop', scopes: ['insights:write'], name: 'short-lived' } }))
    const made = await json(await api('POST', `/v1/insights/remediations/${anyRem.id}/links`, { token: tok.token, body: { decision: 'approve' } }))
    expect((await api('DELETE', `/v1/tokens/${tok.id}`, { token: admin })).status).toBe(204)
    const r = await fetch(made.url, { method: 'POST' })
    expect(r.status).toBe(401)
    expect((await json(r)).error.code).toBe('unauthenticated')
  })
})
