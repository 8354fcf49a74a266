import type { Environment } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { environmentCost } from './cost.js'

const env = (forks: Environment['forks']): Environment => ({
  name: 'shop',
  project: 'p',
  createdAt: '2026-01-01T00:00:00.000Z',
  services: [
    { name: 'a', upstream: 'http://127.0.0.1:1', url: 'u', resources: { cpu: 1, memoryMb: 1024 } },
    { name: 'b', upstream: 'sandbox:sbx_b00000:80', sandbox: 'sbx_b00000', port: 80, url: 'u', resources: { cpu: 2, memoryMb: 4096 } },
    { name: 'c', upstream: 'http://127.0.0.1:3', url: 'u' },
  ],
  forks,
})
const fork = (service: string, key: string, sandbox?: string) => ({
  id: `frk_${service}${key}`,
  environment: 'shop',
  service,
  routingKey: key,
  upstream: 'x',
  createdAt: 'x',
  ...(sandbox ? { sandbox, port: 80 } : {}),
})

describe('environmentCost', () => {
  it('counts measured over declared, takes the widest route group as one fork, and fits both beside the baseline', async () => {
    const measured = new Map([
      ['sbx_b00000', { cpu: 0.5, memoryMb: 512 }],
      ['sbx_f00000', { cpu: 0.25, memoryMb: 256 }],
    ])
    const c = await environmentCost(env([fork('a', 'k1'), fork('b', 'k1', 'sbx_f00000'), fork('a', 'k2')]), async (id) => measured.get(id), { cpu: 8, memoryMb: 16384 })
    expect(c.services.map((s) => [s.service, s.used, s.forks])).toEqual([
      ['a', { cpu: 1, memoryMb: 1024 }, 2],
      ['b', { cpu: 0.5, memoryMb: 512 }, 1],
      ['c', { cpu: 0, memoryMb: 0 }, 0],
    ])
    expect(c.fullCopy).toEqual({ cpu: 1.5, memoryMb: 1536 })
    expect(c.perFork).toEqual({ cpu: 1.25, memoryMb: 1280 }) // k1: a (declared) + b's fork (measured in its own sandbox)
    expect(c.concurrent).toEqual({ fullCopies: 4, forks: 5 }) // room 6.5 CPU, 14848 MiB: CPU decides
    expect(c.savingPercent).toBe(16.7)
    expect(c.notes.join('\n')).toMatch(/c: no declared resources/)
  })

  it('with no forks, one fork is the largest single service; with no figures at all, nothing fits', async () => {
    const c = await environmentCost(env([]), async () => undefined, { cpu: 2, memoryMb: 8192 })
    expect(c.perFork).toEqual({ cpu: 2, memoryMb: 4096 })
    expect(c.notes.join('\n')).toMatch(/sbx_b00000 could not be measured/)
    const none = await environmentCost({ ...env([]), services: [{ name: 'x', upstream: 'u', url: 'u' }] }, async () => undefined, { cpu: 2, memoryMb: 1 })
    expect(none.concurrent).toEqual({ fullCopies: 0, forks: 0 })
  })
})
