import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../core/log.js'
import { RouterConfig } from './config.js'
import { RouteMetrics } from './metrics.js'
import { RequestRouter, type RouteEnvironment } from './router.js'

/** A real upstream on loopback that answers its name and the headers it received. */
async function upstream(name: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => res.end(JSON.stringify({ name, headers: req.headers })))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

function get(port: number, host: string, headers: Record<string, string>): Promise<{ servedBy: unknown; name: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { ...headers, host } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ servedBy: res.headers['x-tidepool-served-by'], ...(JSON.parse(body) as { name: string; headers: IncomingHttpHeaders }) }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the router at a public edge (trustRoutingHeaders: false)', () => {
  const servers: Server[] = []
  let router: RequestRouter
  let port: number

  beforeAll(async () => {
    const base = await upstream('base')
    const fork = await upstream('fork')
    servers.push(base.server, fork.server)
    const table = new Map<string, RouteEnvironment>([
      ['web', { name: 'web', project: 'p', services: new Map([['front', { baseline: { url: base.url }, forks: new Map([['k1', { url: fork.url }]]) }]]) }],
    ])
    router = new RequestRouter({
      source: { routeTable: async () => table, onChange: () => () => undefined },
      config: RouterConfig.parse({ port: 0, trustRoutingHeaders: false }),
      metrics: new RouteMetrics(),
      log: silentLogger,
      verifyToken: async (secret) => secret === 'good-token',
    })
    port = (await router.listen()).port
  })

  afterAll(async () => {
    await router.close()
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
  })

  it('ignores and strips routing headers without a valid token', async () => {
    for (const token of [undefined, 'bad-token']) {
      const got = await get(port, 'front.web.localhost', { 'x-tidepool-route': 'k1', baggage: 'a=1,tidepool-route=k1', ...(token ? { 'x-tidepool-route-token': token } : {}) })
      expect([got.name, got.servedBy]).toEqual(['base', 'front@baseline'])
      expect(got.headers['x-tidepool-route']).toBeUndefined()
      expect(got.headers['x-tidepool-route-token']).toBeUndefined()
      expect(got.headers.baggage).toBe('a=1')
    }
    expect((await get(port, 'k1--front.web.preview.localhost', {})).name).toBe('base')
  })

  it('routes by key with a valid token, which never reaches the upstream', async () => {
    const got = await get(port, 'front.web.localhost', { baggage: 'tidepool-route=k1', 'x-tidepool-route-token': 'good-token' })
    expect([got.name, got.servedBy]).toEqual(['fork', 'front@k1'])
    expect(got.headers['x-tidepool-route-token']).toBeUndefined()
    expect(got.headers.baggage).toBe('tidepool-route=k1')
    expect(got.headers['x-forwarded-host']).toBe('front.web.localhost')
  })
})
