/**
 * Data isolation per routing key, for real: a PostgreSQL source → mirror; a fork launched in a sandbox
 * with its own clone of the mirror (DATABASE_URL in the fork's sandbox). A row written through the fork
 * is seen by requests with the fork's key and by no other request (the baseline reads the source);
 * deleting the fork deletes its clone and its sandbox.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Client, createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { dataSkip, startTestPg, type TestPg } from './support/data-pg.js'
import { createShop } from './support/data-shop.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'
import { get } from './support/routing-apps.js'

const skip = skipReason ?? dataSkip
const cgroupName = `tidepool-it-rdata-${process.pid}`
const QUERY = "select coalesce(string_agg(email, ','), '') from customers where email like '%@fork.test'"

/** Inside the fork's sandbox: answers the fork's rows from its clone (psql over DATABASE_URL). */
const forkJs = `
const { execFileSync } = require('node:child_process')
require('node:http').createServer((req, res) => {
  const out = execFileSync('psql', [process.env.DATABASE_URL, '-tAc', ${JSON.stringify(QUERY)}], { encoding: 'utf8' })
  res.end(JSON.stringify({ name: 'fork', rows: out.trim() }))
}).listen(9300, '127.0.0.1')
`

describe.skipIf(Boolean(skip))(`a fork with its own database clone${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let src: TestPg
  let home: string
  let cp: ControlPlane
  let api: Client
  let baseline: Server
  let url: string

  beforeAll(async () => {
    src = await startTestPg('routing')
    await createShop(src, 30)
    home = mkdtempSync(join(tmpdir(), 'tp-rdata-'))
    chmodSync(home, 0o755) // the managed PostgreSQL servers run as the postgres user and must reach data.dir
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', router: { port: 0 }, runtime: { kind: 'local', cgroupName }, data: { dir: join(home, 'data'), socketDir: join(home, 's') } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false, router: true })
    api = createClient({ baseUrl: (await cp.listen()).url, token: cp.adminToken! })
    // The baseline reads the source itself.
    baseline = createServer((_req, res) => {
      void src.sql('shop', QUERY).then((r) => res.end(JSON.stringify({ name: 'baseline', rows: String(Object.values(r[0]!)[0]) })))
    })
    await new Promise<void>((r) => baseline.listen(0, '127.0.0.1', () => r()))
    const env = await api.createEnvironment({ name: 'shopdata', services: [{ name: 'orders', upstream: `http://127.0.0.1:${(baseline.address() as AddressInfo).port}` }] })
    url = env.services[0]!.url
  }, 180_000)

  afterAll(async () => {
    await cp?.close()
    baseline?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    await src?.stop()
    if (home && !readFileSync('/proc/mounts', 'utf8').includes(home)) rmSync(home, { recursive: true, force: true })
  })

  it('routes the key to a fork that sees its own rows; other requests see the baseline data', async () => {
    const source = await api.createDataSource({ url: src.url('shop', 'shop-owner-pw', 'shop') })
    const mirror = await api.createMirror({ id: source.id, wait: true })
    const fork = await api.createFork({ env: 'shopdata', service: 'orders', port: 9300, launch: { cmd: ['node', '-e', forkJs] }, database: { mirror: mirror.id } })
    expect(fork.database).toMatchObject({ clone: expect.stringMatching(/^dcl_/), url: expect.stringMatching(/^postgresql:/) })
    expect((await api.getSandbox({ id: fork.sandbox! })).envKeys).toEqual(expect.arrayContaining(['DATABASE_URL', 'TIDEPOOL_ROUTING_KEY']))
    // A row written through the fork's sandbox lands in its clone only.
    const w = await api.exec({ id: fork.sandbox!, cmd: `psql -tAc "insert into customers (email, first_name, last_name) values ('a@fork.test', 'A', 'F')"` })
    expect(w.stderr).toBe('')
    let keyed = await get(url, { 'x-tidepool-route': fork.routingKey })
    for (let i = 0; i < 200 && keyed.status !== 200; i++) {
      await sleep(50)
      keyed = await get(url, { 'x-tidepool-route': fork.routingKey })
    }
    expect(JSON.parse(keyed.body)).toEqual({ name: 'fork', rows: 'a@fork.test' })
    expect(JSON.parse((await get(url)).body)).toEqual({ name: 'baseline', rows: '' })

    await api.deleteFork({ env: 'shopdata', id: fork.id })
    await expect(api.getClone({ id: fork.database!.clone })).rejects.toMatchObject({ code: 'not_found' })
    expect((await api.getSandbox({ id: fork.sandbox! })).state).toBe('stopped')
    expect(leftovers(cgroupName, [fork.sandbox!])).toEqual([])
  }, 180_000)
})
