/**
 * The db.query action against a real PostgreSQL (started by the test): read-only for real, one statement,
 * bounded rows, deterministic output. The clone lookup is the seam main.ts fills from the data area; here it
 * names a database of the test server.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createClient, type Principal } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ActionService } from '../../src/actions/service.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { dataSkip, startTestPg, type TestPg } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'
import { destroyAll, skipReason } from './support/host.js'

let pgs: TestPg
let svc: ActionService
const agent = { tokenId: 'tok_a', name: 'agent', project: 'p', scopes: ['data:read'] } as Principal
const noData = { tokenId: 'tok_b', name: 'other', project: 'p', scopes: ['sandboxes:read'] } as Principal
const run = (input: Record<string, unknown>, p: Principal = agent) => svc.run(p, { name: 'db.query', input: { cloneId: 'dcl_test', ...input }, timing: false })

describe.skipIf(dataSkip)('db.query action (real PostgreSQL)', () => {
  beforeAll(async () => {
    pgs = await startTestPg('actions')
    await pgs.sql('postgres', "create role agent login password 'agent-pw'")
    await pgs.sql('postgres', 'create database shop owner agent')
    await pgs.sql(
      'shop',
      "create table orders (id int primary key, item text, at timestamptz); insert into orders select g, 'item ' || g, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 day' from generate_series(1, 50) g; create sequence s; alter table orders owner to agent; alter sequence s owner to agent",
    )
    const url = pgs.url('agent', 'agent-pw', 'shop')
    svc = new ActionService({
      sandbox: {
        exec: async () => {
          throw new Error('no sandbox here')
        },
      },
      clones: {
        url: async (_p, ref) => {
          if (ref.cloneId !== 'dcl_test') throw Object.assign(new Error('no such clone'), { code: 'not_found' })
          return url
        },
      },
    })
  })
  afterAll(async () => {
    await pgs?.stop()
  })

  it('returns fields and rows in the query order, the same bytes twice', async () => {
    const r = await run({ sql: 'select id, item, at from orders where id <= $1 order by id desc;', params: [3] })
    expect(r).toEqual({
      ok: true,
      output: {
        fields: ['id', 'item', 'at'],
        rows: [
          [3, 'item 3', '2026-01-04T00:00:00.000Z'],
          [2, 'item 2', '2026-01-03T00:00:00.000Z'],
          [1, 'item 1', '2026-01-02T00:00:00.000Z'],
        ],
        rowCount: 3,
        truncated: false,
      },
    })
    expect(JSON.stringify(await run({ sql: 'select id, item, at from orders where id <= $1 order by id desc;', params: [3] }))).toBe(JSON.stringify(r))
  })

  it('bounds the rows it reads', async () => {
    const r = await run({ sql: 'select id from orders order by id', maxRows: 5 })
    expect(r.output).toMatchObject({ rowCount: 5, truncated: true })
  })

  it('changes nothing: writes, side-effecting functions and a second statement are refused', async () => {
    await expect(run({ sql: "insert into orders values (99, 'x', now())" })).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(run({ sql: "select nextval('s')" })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('read-only') })
    await expect(run({ sql: 'select 1) x; commit; delete from orders; select (1' })).rejects.toMatchObject({ code: 'invalid_request' })
    expect(await pgs.sql('shop', 'select count(*)::int as n from orders')).toEqual([{ n: 50 }])
  })

  it('needs data:read, and a clone id or a sandbox', async () => {
    await expect(run({ sql: 'select 1' }, noData)).rejects.toMatchObject({ code: 'policy_denied' })
    await expect(svc.run(agent, { name: 'db.query', input: { sql: 'select 1' }, timing: false })).rejects.toMatchObject({ code: 'invalid_request' })
  })
})

const e2eSkip = skipReason ?? dataSkip
const cgroupName = `tidepool-it-dbq-${process.pid}`

describe.skipIf(Boolean(e2eSkip))('db.query on the clone bound to a sandbox, through the API and MCP', () => {
  let src: TestPg
  let home: string
  let cp: ControlPlane
  let url: string

  beforeAll(async () => {
    src = await startTestPg('dbq')
    await createShop(src, 20)
    home = mkdtempSync(join(tmpdir(), 'tp-dbq-'))
    chmodSync(home, 0o755) // the managed PostgreSQL servers run as the postgres user and must reach data.dir
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, data: { dir: join(home, 'data'), socketDir: join(home, 's') } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    await src?.stop()
    if (home && !readFileSync('/proc/mounts', 'utf8').includes(home)) rmSync(home, { recursive: true, force: true })
  })

  it('finds the clone by the sandbox, reads it, and cannot write it', async () => {
    const api = createClient({ baseUrl: url, token: cp.adminToken! })
    const source = await api.createDataSource({ url: src.url('reader', READER_PASSWORD, 'shop') })
    const mirror = await api.createMirror({ id: source.id, wait: true })
    const sbx = await api.createSandbox({})
    await api.createClone({ mirror: mirror.id, sandbox: sbx.id })
    const r = await api.runAction({ name: 'db.query', sandboxId: sbx.id, input: { sql: 'select count(*)::int as n from customers' } })
    expect(r).toEqual({ ok: true, output: { fields: ['n'], rows: [[20]], rowCount: 1, truncated: false } })
    await expect(api.runAction({ name: 'db.query', sandboxId: sbx.id, input: { sql: 'select 1) x; commit; drop table customers; select (1' } })).rejects.toMatchObject({ code: 'invalid_request' })

    const mcp = new McpClient({ name: 'test', version: '1' })
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${cp.adminToken}` } } }))
    const viaTool = (await mcp.callTool({ name: 'action_db_query', arguments: { sandboxId: sbx.id, sql: 'select count(*)::int from customers' } })) as { structuredContent?: unknown }
    expect(viaTool.structuredContent).toMatchObject({ ok: true, output: { rows: [[20]] } })
    const none = await api.createSandbox({})
    const unbound = (await mcp.callTool({ name: 'action_db_query', arguments: { sandboxId: none.id, sql: 'select 1' } })) as { structuredContent?: unknown }
    expect(unbound.structuredContent).toMatchObject({ error: { code: 'not_found' } })
    await mcp.close()
    await api.deleteSandbox({ id: sbx.id })
    await api.deleteSandbox({ id: none.id })
  })
})
