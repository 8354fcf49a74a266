import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../store/db.js'
import type { OpenedStore } from '../store/opened-store.js'
import { EnvironmentService } from './service.js'

describe('EnvironmentService', () => {
  let store: OpenedStore
  let now = Date.parse('2026-01-01T00:00:00Z')
  let svc: EnvironmentService
  const p = { project: 'p', tokenId: 'tok' }

  beforeEach(async () => {
    store = await openStore(':memory:')
    svc = new EnvironmentService({ db: store.db, clock: { now: () => now }, routedUrl: (e, s) => `http://${s}.${e}.localhost:1` })
  })
  afterEach(async () => {
    await store.close()
  })

  it('ends a fork at its TTL: the route table leaves it out at once, the reaper deletes it and tells the router', async () => {
    await svc.create(p, { name: 'web', services: [{ name: 'front', upstream: 'http://127.0.0.1:1' }] })
    const fork = await svc.createFork(p, { env: 'web', service: 'front', upstream: 'http://127.0.0.1:2', ttlSeconds: 60 })
    expect(fork.expiresAt).toBe('2026-01-01T00:01:00.000Z')
    expect((await svc.routeTable()).get('web')!.services.get('front')!.forks.get(fork.routingKey)).toEqual({ url: 'http://127.0.0.1:2' })
    let changes = 0
    svc.onChange(() => changes++)
    expect(await svc.reapExpired()).toBe(0)
    now += 60_000
    expect((await svc.routeTable()).get('web')!.services.get('front')!.forks.size).toBe(0)
    expect(await svc.reapExpired()).toBe(1)
    expect(changes).toBe(1)
    expect((await svc.listForks(p, 'web')).items).toEqual([])
  })

  it('generates keys that are routing keys, and lets a key name a route group across services', async () => {
    await svc.create(p, { name: 'shop', services: ['a', 'b'].map((n) => ({ name: n, upstream: `http://127.0.0.1:1/${n}` })) })
    const fa = await svc.createFork(p, { env: 'shop', service: 'a', upstream: 'http://127.0.0.1:3' })
    expect(fa.routingKey).toMatch(/^[a-z][a-z0-9]{11}$/)
    const fb = await svc.createFork(p, { env: 'shop', service: 'b', upstream: 'http://127.0.0.1:4', routingKey: fa.routingKey })
    const services = (await svc.routeTable()).get('shop')!.services
    expect([services.get('a')!.forks.get(fa.routingKey), services.get('b')!.forks.get(fb.routingKey)]).toEqual([{ url: 'http://127.0.0.1:3' }, { url: 'http://127.0.0.1:4' }])
    await svc.delete(p, 'shop')
    expect((await svc.routeTable()).size).toBe(0)
  })
})
