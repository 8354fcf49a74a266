/**
 * @module bench/gate — the sandbox-first gate: rehearsal overhead (target fingerprint + clone of the mirror +
 * observation, beyond the artifact's own run time) for a small migration on a mirror of a few hundred MB,
 * and the Cedar decision time of gate:approve. A source server in a temp dir, removed at the end.
 * TIDEPOOL_BENCH_GATE_ROWS (default 1 000 000 event rows, about 270 MB) sizes the database; TIDEPOOL_BENCH_GATE_N
 * (default 30) the rehearsals.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { operations, type Principal } from '@tidepool/sdk'
import { builtinActions } from '../actions/catalog.js'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { withAdmin } from '../data/pg-admin.js'
import { initDataDir, startServer, stopServer } from '../data/pg-server.js'
import { buildControlPlane } from '../main.js'
import { PolicyGate } from '../policy/gate.js'
import { FakeRuntime } from '../runtime/fake.js'
import { pgSourceHome } from './pg-source-home.js'
import { figure, machine, metric, type BenchResult, type Metric } from './result.js'

const log = (s: string) => process.stderr.write(`  [gate] ${s}\n`)

export async function run(): Promise<BenchResult> {
  const rows = Number(process.env.TIDEPOOL_BENCH_GATE_ROWS ?? 1_000_000)
  const n = Number(process.env.TIDEPOOL_BENCH_GATE_N ?? 30)
  const { home, bins, runAs, srcData, srcSock, port } = await pgSourceHome('gate', 27_000)
  const metrics: Metric[] = []
  const notes: string[] = []
  const config = loadConfig({ env: {}, overrides: { home, logLevel: 'silent', port: 0, data: { dir: join(home, 'data'), socketDir: join(home, 's') } } })
  let cp: Awaited<ReturnType<typeof buildControlPlane>> | undefined
  try {
    await initDataDir(bins, srcData, runAs, { sharedBuffersMb: 128, maxConnections: 40, durable: false })
    await startServer({ bins, dataDir: srcData, port, socketDir: srcSock, name: 'bench-gate-source', runAs, logFile: join(home, 'source', 'server.log') })
    const sql = (db: string, text: string) => withAdmin({ socketDir: srcSock, port }, db, (c) => c.query(text))
    await sql('postgres', `CREATE ROLE app LOGIN PASSWORD 'app'`)
    await sql('postgres', 'CREATE DATABASE prod OWNER app')
    await sql(
      'prod',
      `SET ROLE app;
       CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE, full_name text NOT NULL);
       CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts (id), kind text NOT NULL, payload text NOT NULL, at timestamptz NOT NULL);
       INSERT INTO accounts SELECT g, 'user' || g || '@corp.test', 'Person ' || g FROM generate_series(1, 10000) g;
       INSERT INTO events (account_id, kind, payload, at)
         SELECT 1 + g % 10000, 'kind' || (g % 17), repeat(md5(g::text), 5), '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, ${rows}) g;
       CREATE INDEX events_account ON events (account_id);
       RESET ROLE; ANALYZE;`,
    )
    const mb = Math.round(Number(((await sql('prod', 'SELECT pg_database_size(current_database()) AS b')).rows[0] as { b: string }).b) / 1_048_576)
    log(`source: ${mb} MB (${rows} event rows)`)
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false, runtime: new FakeRuntime() })
    const principal: Principal = { tokenId: 'tok_bench', name: 'bench', project: 'default', scopes: ['admin'] }
    const url = `postgresql://app:app@127.0.0.1:${port}/prod`
    const source = await cp.svc.data.addSource(principal, { url })
    const t0 = performance.now()
    const mirror = await cp.svc.data.createMirror(principal, operations.createMirror.input.parse({ id: source.id, sample: { percent: 100 } }))
    log(`mirror ${mirror.id}: ${mirror.report?.rows} rows, ${Math.round((mirror.report?.bytes ?? 0) / 1_048_576)} MB, built in ${Math.round(performance.now() - t0)} ms`)
    await cp.svc.data.settle()
    const target = await cp.svc.gate.createTarget(principal, { name: 'prod', kind: 'postgres', url, mirror: mirror.id, settings: { lockTimeoutMs: 2000, statementTimeoutMs: 60_000 } })
    const overhead: number[] = []
    const artifact: number[] = []
    const total: number[] = []
    for (let i = 0; i < n + 2; i++) {
      // A small migration, different each time (no standing approval): a column and a one-row backfill on accounts.
      const input = operations.createProposal.input.parse({
        target: target.id,
        artifact: `ALTER TABLE accounts ADD COLUMN c${i} int; UPDATE accounts SET c${i} = 1 WHERE id = ${1 + i}`,
        intent: 'bench',
      })
      const t = performance.now()
      const p = await cp.svc.gate.propose(principal, input)
      const took = performance.now() - t
      if (p.decision?.verdict !== 'pass' || !p.evidence) throw new Error(`rehearsal ${i}: ${p.decision?.verdict} ${p.decision?.reasons.join('; ')}`)
      if (i < 2) continue // warm-up
      overhead.push(p.evidence.overheadMs)
      artifact.push(p.evidence.artifactMs)
      total.push(took)
      await cp.svc.gate.settle() // the rehearsal's clone is removed after its answer…
      await cp.svc.data.settle() // …and the warm clone it took is made again before the next one
    }
    metrics.push(metric(`rehearsal overhead beyond the artifact (${mb} MB mirror)`, 'ms', overhead, { target: 'p50 <= 300 ms' }))
    metrics.push(metric('artifact run time in the rehearsal', 'ms', artifact))
    metrics.push(metric('whole propose call (hash, classify, rehearse, decide, store)', 'ms', total))
    metrics.push(figure('mirror size', 'MB', mb))
    notes.push(
      'overhead = target fingerprint (schema + counts of the tables the artifact names) + clone of the mirror (data.warmClones default 1: a warm clone is handed out) + observation (schema before/after, counts, pg_stat_xact, pg_locks); the clone is removed after the answer, and both that and the refill of the warm clone are waited for between samples',
    )
    // Cedar decisions of gate:approve, uncached (a different rowsChanged each time defeats the cache).
    const gate = new PolicyGate({ files: [], actions: [...builtinActions.values()], lookup: async () => undefined, log: silentLogger })
    const reviewer: Principal = { tokenId: 'tok_rev', name: 'reviewer', project: 'default', scopes: ['gate:approve'] }
    const times: number[] = []
    for (let i = 0; i < 3200; i++) {
      const t = performance.now()
      const d = gate.decideGate({ principal: reviewer, action: 'gate:approve', verdict: 'pass', destructive: false, heavyLocks: false, rowsChanged: i, target: target.id })
      if (i >= 200) times.push((performance.now() - t) * 1000)
      if (!d.allow) throw new Error('approve denied')
    }
    metrics.push(metric('policy decision gate:approve (Cedar, uncached)', 'µs', times, { target: 'p50 <= 1000 µs' }))
  } finally {
    await cp?.close().catch((err: unknown) => log(`close: ${(err as Error).message}`))
    await stopServer(srcData, 'immediate').catch(() => undefined)
    rmSync(home, { recursive: true, force: true })
  }
  return { name: 'gate', at: new Date().toISOString(), machine: machine(), metrics, notes }
}
