/**
 * @module bench/data — clone-to-accepting-connections and reset times for a ~100 MB and a ~2 GB mirror, the
 * fast path (reflink copy of a stopped data dir + `postgres` started directly) and CREATE DATABASE … TEMPLATE
 * side by side in one run; mirror build throughput, with and without masking by content (a table of notes
 * and JSON documents, one row in ten holding personal data, mirrored both ways in the same run). Everything (source server, pool image) lives in a temp
 * dir removed at the end. TIDEPOOL_BENCH_DATA_SCALE (default 1) scales the database sizes down for a quick look.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Clone, Principal } from '@tidepool/sdk'
import pg from 'pg'
import { AuditLog } from '../audit/audit-log.js'
import { loadConfig } from '../config.js'
import { systemClock } from '../core/clock.js'
import { silentLogger } from '../core/log.js'
import { withAdmin } from '../data/pg-admin.js'
import { initDataDir, startServer, stopServer } from '../data/pg-server.js'
import { createDataService, type DataService } from '../data/service.js'
import type { AreaDeps } from '../kit/area-deps.js'
import { EventLog } from '../kit/events.js'
import { openStore } from '../store/db.js'
import { pgSourceHome } from './pg-source-home.js'
import { figure, machine, metric, type BenchResult, type Metric } from './result.js'

const principal: Principal = { tokenId: 'tok_bench', name: 'bench', project: 'bench', scopes: ['admin'] }
const log = (s: string) => process.stderr.write(`  [data] ${s}\n`)

export async function run(): Promise<BenchResult> {
  const scale = Number(process.env.TIDEPOOL_BENCH_DATA_SCALE ?? 1)
  const fastN = Number(process.env.TIDEPOOL_BENCH_DATA_N ?? 30)
  const { home, bins, runAs, srcData, srcSock, port } = await pgSourceHome('data', 26_000)
  const store = await openStore(':memory:')
  const config = loadConfig({
    env: {},
    overrides: {
      home,
      storeUrl: ':memory:',
      logLevel: 'silent',
      data: { dir: join(home, 'data'), socketDir: join(home, 's'), storage: { kind: 'auto', imageSizeMb: 16_384 }, quotas: { default: { clones: 100, diskMb: 1_000_000, mirrors: 10 }, projects: {} } },
    },
  })
  const deps: AreaDeps = { config, store, clock: systemClock, log: silentLogger, audit: new AuditLog(store.db, systemClock), events: new EventLog(store.db, systemClock), runtime: undefined as never }
  const svc = createDataService(deps)
  const metrics: Metric[] = []
  try {
    await initDataDir(bins, srcData, runAs, { sharedBuffersMb: 128, maxConnections: 20, durable: false })
    await startServer({ bins, dataDir: srcData, port, socketDir: srcSock, name: 'bench-source', runAs, logFile: join(home, 'source', 'server.log') })
    const sql = (db: string, text: string) => withAdmin({ socketDir: srcSock, port }, db, (c) => c.query(text))
    await sql('postgres', `CREATE ROLE app LOGIN PASSWORD 'app'`)
    const sizes = [
      { label: '100MB', db: 'small', rows: Math.round(400_000 * scale) },
      { label: '2GB', db: 'large', rows: Math.round(8_000_000 * scale) },
    ]
    for (const s of sizes) {
      const t0 = performance.now()
      await sql('postgres', `CREATE DATABASE ${s.db} OWNER app`)
      await sql(
        s.db,
        `SET ROLE app;
         CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE, full_name text NOT NULL);
         CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts (id), kind text NOT NULL, payload text NOT NULL, at timestamptz NOT NULL);
         INSERT INTO accounts SELECT g, 'user' || g || '@corp.test', 'Person ' || g FROM generate_series(1, 10000) g;
         INSERT INTO events (account_id, kind, payload, at)
           SELECT 1 + g % 10000, 'kind' || (g % 17), repeat(md5(g::text), 5), '2024-01-01'::timestamptz + g * interval '1 second'
             FROM generate_series(1, ${s.rows}) g;
         CREATE INDEX events_account ON events (account_id);
         RESET ROLE; ANALYZE;`,
      )
      const size = (await sql(s.db, 'SELECT pg_database_size(current_database()) AS b')).rows[0] as { b: string }
      log(`source ${s.db}: ${Math.round(Number(size.b) / 1_048_576)} MB in ${Math.round(performance.now() - t0)} ms`)
    }

    const source = async (db: string) => (await svc.addSource(principal, { url: `postgresql://app:app@127.0.0.1:${port}/${db}`, name: db })).id
    metrics.push(...(await contentScanning(svc, sql, source)))
    // TIDEPOOL_BENCH_DATA_ONLY=content: just the content-scanning comparison (a quick look at its ratio).
    if (process.env.TIDEPOOL_BENCH_DATA_ONLY === 'content') return { name: 'data', at: new Date().toISOString(), machine: machine(), metrics }
    const mirrors: Record<string, string> = {}
    for (const s of sizes) {
      const m = await svc.createMirror(principal, { id: await source(s.db), sample: { percent: 100, perTable: {}, seed: 1 }, masking: { defaults: true, rules: [] }, wait: true })
      mirrors[s.label] = m.id
      const r = m.report!
      log(`mirror ${s.label}: ${r.rows} rows, ${Math.round(r.bytes / 1_048_576)} MB in ${r.durationMs} ms (${r.rowsPerSecond} rows/s; phases ${JSON.stringify(r.phasesMs)})`)
      metrics.push(figure(`mirror build ${s.label} (100% sample, masked)`, 'rows/s', r.rowsPerSecond))
    }

    await svc.settle() // warm clones of both mirrors made before anything is measured

    const connect = async (c: Clone) => {
      const client = new pg.Client({ host: '127.0.0.1', port: c.port, user: c.user, password: c.password, database: c.database })
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
    }
    const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
      const t = performance.now()
      const r = await fn()
      return [performance.now() - t, r]
    }
    const measure = async (label: string, path: 'warm' | 'cold' | 'template', n: number) => {
      const opts = path === 'warm' ? {} : path === 'cold' ? { strategy: 'reflink' as const, warm: false } : { strategy: 'template' as const }
      const clone: number[] = []
      const reset: number[] = []
      // Warm-up: page cache, JIT, the template strategy's shared server.
      for (let i = 0; i < 2; i++) {
        const c = await svc.createClone(principal, { mirror: mirrors[label]! }, opts)
        await connect(c)
        await svc.deleteClone(principal, c.id)
        await svc.settle()
      }
      for (let i = 0; i < n; i++) {
        const [ms, c] = await timed(async () => {
          const c = await svc.createClone(principal, { mirror: mirrors[label]! }, opts)
          await connect(c)
          return c
        })
        clone.push(ms)
        const client = new pg.Client({ host: '127.0.0.1', port: c.port, user: c.user, password: c.password, database: c.database })
        await client.connect()
        await client.query('UPDATE accounts SET full_name = full_name || 1 WHERE id <= 100')
        await client.end()
        await svc.settle() // the spare copy is made in the background between runs, as between test runs
        const [rms] = await timed(async () => {
          const r = await svc.resetClone(principal, c.id, 'start')
          await connect(r)
        })
        reset.push(rms)
        await svc.deleteClone(principal, c.id)
        await svc.settle()
      }
      log(`${path} ${label}: clone p50 ${median(clone).toFixed(1)} ms, reset p50 ${median(reset).toFixed(1)} ms (n=${n})`)
      return { clone, reset }
    }
    type Times = Record<string, { clone: number[]; reset: number[] }>
    const warm: Times = {}
    const cold: Times = {}
    const slow: Times = {}
    for (const s of sizes) {
      warm[s.label] = await measure(s.label, 'warm', fastN)
      cold[s.label] = await measure(s.label, 'cold', fastN)
      slow[s.label] = await measure(s.label, 'template', s.label === '2GB' ? Math.max(3, Math.round(fastN / 5)) : Math.max(5, Math.round(fastN / 2)))
    }
    const peer = (xs: number[], name: string) => ({ name, p50: round(median(xs)) })
    for (const s of sizes) {
      const l = s.label
      metrics.push(metric(`clone to accepting connections ${l} (warm pool)`, 'ms', warm[l]!.clone, { target: 'p50 <= 100 ms', peer: peer(slow[l]!.clone, 'CREATE DATABASE ... TEMPLATE') }))
      metrics.push(
        metric(`clone to accepting connections ${l} (cold: reflink copy + start)`, 'ms', cold[l]!.clone, { target: 'p50 <= 100 ms', peer: peer(slow[l]!.clone, 'CREATE DATABASE ... TEMPLATE') }),
      )
      metrics.push(metric(`reset to start ${l}`, 'ms', warm[l]!.reset, { target: 'p50 <= 100 ms', peer: peer(slow[l]!.reset, 'DROP + CREATE DATABASE ... TEMPLATE') }))
      metrics.push(metric(`reset to start ${l} (clone made cold)`, 'ms', cold[l]!.reset, { target: 'p50 <= 100 ms', peer: peer(slow[l]!.reset, 'DROP + CREATE DATABASE ... TEMPLATE') }))
      metrics.push(metric(`TEMPLATE clone ${l}`, 'ms', slow[l]!.clone))
      metrics.push(metric(`TEMPLATE reset ${l}`, 'ms', slow[l]!.reset))
    }
    const ratio = (t: Times, k: 'clone' | 'reset') => round(median(t['2GB']![k]) / median(t['100MB']![k]))
    metrics.push(figure('clone p50 ratio 2GB / 100MB (warm pool)', 'ratio', ratio(warm, 'clone'), { target: '<= 1.3' }))
    metrics.push(figure('clone p50 ratio 2GB / 100MB (cold)', 'ratio', ratio(cold, 'clone'), { target: '<= 1.3' }))
    metrics.push(figure('reset p50 ratio 2GB / 100MB', 'ratio', ratio(warm, 'reset'), { target: '<= 1.3' }))
    return { name: 'data', at: new Date().toISOString(), machine: machine(), metrics }
  } finally {
    await svc.close().catch((err: unknown) => log(`close failed: ${String(err)}`))
    await stopServer(srcData, 'immediate').catch(() => undefined)
    await store.close()
    rmSync(home, { recursive: true, force: true })
  }
}

/**
 * Mirror build rows/s of one source with masking by column names only and with content scanning added,
 * built alternately (off, on, off, on) so both see the same machine; the best of two each.
 */
async function contentScanning(svc: DataService, sql: (db: string, text: string) => Promise<unknown>, source: (db: string) => Promise<string>): Promise<Metric[]> {
  const rows = Number(process.env.TIDEPOOL_BENCH_DATA_NOTES ?? 200_000)
  await sql('postgres', 'CREATE DATABASE notes OWNER app')
  await sql(
    'notes',
    `SET ROLE app;
     CREATE TABLE people (id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text NOT NULL);
     CREATE TABLE tickets (id int PRIMARY KEY, person_id int NOT NULL REFERENCES people (id), note text NOT NULL, data jsonb NOT NULL, at timestamptz NOT NULL);
     INSERT INTO people SELECT g, 'Given' || chr(65 + g % 26) || chr(97 + g % 23), 'Family' || chr(97 + g % 19), 'p' || g || '@corp.test' FROM generate_series(1, 1000) g;
     INSERT INTO tickets SELECT g, 1 + g % 1000,
         CASE WHEN g % 10 = 0 THEN 'Customer Given' || chr(65 + g % 26) || chr(97 + g % 23) || ' called from +44 20 7946 ' || lpad((g % 10000)::text, 4, '0') || ', mail p' || g || '@corp.test, card 4111 1111 1111 1111.'
              ELSE 'Order ' || g || ' shipped on ' || to_char('2024-01-01'::date + g % 365, 'YYYY-MM-DD') || '; the customer asked about the delivery window and a call back.' END,
         jsonb_build_object('kind', 'ticket', 'n', g, 'tags', jsonb_build_array('a', 'b'), 'memo', CASE WHEN g % 10 = 0 THEN 'reach me at p' || g || '@corp.test' ELSE 'no change' END),
         '2024-01-01'::timestamptz + g * interval '1 second'
       FROM generate_series(1, ${rows}) g;
     RESET ROLE; ANALYZE;`,
  )
  const id = await source('notes')
  const rate: Record<'off' | 'on', number[]> = { off: [], on: [] }
  for (const content of [false, true, false, true]) {
    const m = await svc.createMirror(principal, {
      id,
      name: `notes-${content ? 'on' : 'off'}`,
      sample: { percent: 100, perTable: {}, seed: 1 },
      masking: { defaults: true, content, rules: [] },
      wait: true,
    })
    const r = m.report!
    rate[content ? 'on' : 'off'].push(r.rowsPerSecond)
    log(`mirror notes (content ${content ? 'on' : 'off'}): ${r.rows} rows in ${r.durationMs} ms (${r.rowsPerSecond} rows/s; found ${JSON.stringify(r.masking?.found)})`)
  }
  const off = Math.max(...rate.off)
  const on = Math.max(...rate.on)
  return [
    figure('mirror build notes (masked by column names)', 'rows/s', off),
    figure('mirror build notes (names + content scanning)', 'rows/s', on),
    figure('mirror build slowdown from content scanning (rows/s without / with)', 'ratio', round(off / on), { target: '<= 1.5' }),
  ]
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN
const round = (x: number) => Math.round(x * 1000) / 1000
