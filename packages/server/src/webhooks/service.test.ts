import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../core/log.js'
import { openStore } from '../store/db.js'
import type { OpenedStore } from '../store/opened-store.js'
import { startReceiver, type Receiver } from '../testing/loopback-receiver.js'
import { WebhooksConfig } from './config.js'
import { WebhookService } from './service.js'
import { verifyDelivery } from './signing.js'

const alice = { project: 'shop', tokenId: 'tok_alice' }
const data = { run: { id: 'r1' }, verdict: 'needs_attention', markdown: '## red' }

describe('webhook deliveries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-webhooks-'))
  let store: OpenedStore
  let t = Date.parse('2026-01-01T00:00:00Z')
  const clock = { now: () => t }
  const cfg = WebhooksConfig.parse({ maxAttempts: 4, backoffBaseMs: 1000, backoffMaxMs: 8000, timeoutMs: 2000 })
  const service = (o: Partial<WebhooksConfig> = {}) => new WebhookService({ db: store.db, clock, log: silentLogger, cfg: { ...cfg, ...o }, random: () => 0.5 })
  let rx: Receiver

  beforeAll(async () => {
    store = await openStore(`sqlite:${join(dir, 'store.db')}`)
    rx = await startReceiver()
  })
  afterAll(async () => {
    await rx.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('signs each delivery so the receiver verifies it with its secret', async () => {
    const hooks = service()
    const hook = await hooks.create(alice, { url: `${rx.url}/hook`, events: ['triage.summary'] })
    expect(hook.secret).toMatch(/^whsec_/)
    expect(await hooks.publish({ project: 'shop', event: 'triage.summary', data })).toBe(1)
    expect(await hooks.publish({ project: 'shop', event: 'remediation.proposed', data })).toBe(0) // not subscribed
    expect(await hooks.publish({ project: 'other', event: 'triage.summary', data })).toBe(0) // another project
    await hooks.settle()
    expect(rx.received).toHaveLength(1)
    const got = rx.received[0]!
    expect(got.headers['x-tidepool-event']).toBe('triage.summary')
    const ok = verifyDelivery(hook.secret, { signature: got.headers['x-tidepool-signature'] as string, timestamp: got.headers['x-tidepool-timestamp'] as string }, got.body, Math.floor(t / 1000))
    expect(ok).toBe(true)
    expect(JSON.parse(got.body)).toMatchObject({ id: got.headers['x-tidepool-delivery'], event: 'triage.summary', project: 'shop', data })
    const log = await hooks.deliveries(alice, { id: hook.id, limit: 10 })
    expect(log.items).toMatchObject([{ status: 'delivered', attempts: 1, statusCode: 200, log: [{ attempt: 1, statusCode: 200 }] }])
    await hooks.delete(alice, hook.id)
    await hooks.close()
  })

  it('retries a failing receiver with growing, jittered delays and logs every attempt', async () => {
    const flaky = await startReceiver((n) => ({ status: n < 2 ? 503 : 204 }))
    const hooks = service()
    const hook = await hooks.create(alice, { url: flaky.url, events: ['remediation.proposed'] })
    await hooks.publish({ project: 'shop', event: 'remediation.proposed', data })
    await hooks.settle()
    let [d] = (await hooks.deliveries(alice, { id: hook.id, limit: 1 })).items
    expect(d).toMatchObject({ status: 'pending', attempts: 1, statusCode: 503, error: 'the receiver answered HTTP 503' })
    // Jitter 0.5 of a 1 s ceiling: due 500 ms later, not before.
    expect(Date.parse(d!.nextAttemptAt!) - t).toBe(500)
    t += 499
    await hooks.drain()
    expect(flaky.received).toHaveLength(1)
    t += 1
    await hooks.drain()
    ;[d] = (await hooks.deliveries(alice, { id: hook.id, limit: 1 })).items
    expect(d).toMatchObject({ status: 'pending', attempts: 2 })
    expect(Date.parse(d!.nextAttemptAt!) - t).toBe(1000) // the second ceiling is 2 s
    t += 1000
    await hooks.drain()
    ;[d] = (await hooks.deliveries(alice, { id: hook.id, limit: 1 })).items
    expect(d).toMatchObject({ status: 'delivered', attempts: 3, statusCode: 204 })
    expect(d!.error).toBeUndefined()
    expect(d!.log.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 503],
      [2, 503],
      [3, 204],
    ])
    // The same delivery id and the same bytes on every attempt.
    expect(new Set(flaky.received.map((r) => r.headers['x-tidepool-delivery'])).size).toBe(1)
    expect(new Set(flaky.received.map((r) => r.body)).size).toBe(1)
    await flaky.close()
    await hooks.close()
  })

  it('gives up after maxAttempts, with the connection error in the log', async () => {
    const gone = await startReceiver()
    const url = gone.url
    await gone.close() // nothing listens there now
    const hooks = service()
    const hook = await hooks.create(alice, { url, events: ['remediation.approved'] })
    await hooks.publish({ project: 'shop', event: 'remediation.approved', data })
    await hooks.settle()
    for (let i = 0; i < 6; i++) {
      t += 10_000
      await hooks.drain()
    }
    const [d] = (await hooks.deliveries(alice, { id: hook.id, limit: 1 })).items
    expect(d).toMatchObject({ status: 'failed', attempts: 4, error: 'ECONNREFUSED' })
    expect(d!.nextAttemptAt).toBeUndefined()
    expect(d!.log).toHaveLength(4)
    expect((await hooks.deliveries(alice, { id: hook.id, status: 'failed', limit: 5 })).items).toHaveLength(1)
    expect((await hooks.deliveries(alice, { id: hook.id, status: 'delivered', limit: 5 })).items).toHaveLength(0)
    await hooks.close()
  })

  it('resumes pending deliveries after a restart (they are in the store)', async () => {
    const down = await startReceiver((n) => ({ status: n === 0 ? 500 : 200 }))
    const first = service()
    const hook = await first.create(alice, { url: down.url, events: ['triage.summary'] })
    await first.publish({ project: 'shop', event: 'triage.summary', data })
    await first.settle()
    await first.close()
    await store.close()
    store = await openStore(`sqlite:${join(dir, 'store.db')}`)
    t += 60_000
    const second = service()
    second.start()
    await second.settle()
    const [d] = (await second.deliveries(alice, { id: hook.id, limit: 1 })).items
    expect(d).toMatchObject({ status: 'delivered', attempts: 2 })
    expect(down.received).toHaveLength(2)
    await second.close()
    await down.close()
  })

  it('pages the log newest first, scopes it to the project, and deletes idempotently', async () => {
    const hooks = service()
    const hook = await hooks.create(alice, { url: rx.url, events: ['remediation.rejected'] })
    for (let i = 0; i < 5; i++) {
      await hooks.publish({ project: 'shop', event: 'remediation.rejected', data: { i } })
      t += 1
    }
    await hooks.settle()
    const p1 = await hooks.deliveries(alice, { id: hook.id, limit: 2 })
    const p2 = await hooks.deliveries(alice, { id: hook.id, limit: 2, nextToken: p1.nextToken })
    const p3 = await hooks.deliveries(alice, { id: hook.id, limit: 2, nextToken: p2.nextToken })
    const ids = [...p1.items, ...p2.items, ...p3.items].map((d) => d.id)
    expect(ids).toHaveLength(5)
    expect([...ids].sort().reverse()).toEqual(ids)
    expect(p3.nextToken).toBeUndefined()
    await expect(hooks.deliveries({ project: 'other', tokenId: 'x' }, { id: hook.id, limit: 2 })).rejects.toMatchObject({ code: 'not_found' })
    expect((await hooks.list({ project: 'other', tokenId: 'x' }, { limit: 10 })).items).toEqual([])
    await hooks.delete({ project: 'other', tokenId: 'x' }, hook.id) // not theirs: nothing happens
    expect((await hooks.list(alice, { limit: 10 })).items.map((h) => h.id)).toContain(hook.id)
    await hooks.delete(alice, hook.id)
    await hooks.delete(alice, hook.id)
    expect((await hooks.list(alice, { limit: 10 })).items.map((h) => h.id)).not.toContain(hook.id)
    await hooks.close()
  })

  it('refuses URLs outside the configured allow-list', async () => {
    const hooks = service({ allowedUrls: ['https://hooks.example.com/'] })
    await expect(hooks.create(alice, { url: 'https://hooks.example.com.evil.test/x', events: ['triage.summary'] })).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(hooks.create(alice, { url: 'http://169.254.169.254/latest', events: ['triage.summary'] })).rejects.toMatchObject({ code: 'policy_denied' })
    expect((await hooks.create(alice, { url: 'HTTPS://Hooks.Example.com/ci', events: ['triage.summary'] })).url).toBe('HTTPS://Hooks.Example.com/ci')
    await expect(service().create(alice, { url: 'ftp://x/', events: ['triage.summary'] })).rejects.toMatchObject({ code: 'invalid_request' })
  })
})
