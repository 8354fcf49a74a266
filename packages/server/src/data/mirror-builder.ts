/**
 * @module data/mirror-builder — build a mirror: the source's full schema, a foreign-key-consistent sample,
 * masked on its way through tidepool (no unmasked value is ever written to the mirror), on a server of its
 * own that is then stopped cleanly, so clones start from it without crash recovery.
 */
import { createHash } from 'node:crypto'
import { rename, stat } from 'node:fs/promises'
import type { MirrorProgress, MirrorReport } from '@tidepool/sdk'
import type pg from 'pg'
import type { z } from 'zod'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import { PoolFullError } from '../storage/pool-errors.js'
import type { StoragePool } from '../storage/storage-pool.js'
import { runCommand } from '../storage/run-command.js'
import { resolveMasking, type MaskingInput } from './masking.js'
import { ContentMasker } from './pii-mask.js'
import { learnNames, maskingReport, nameColumns, planContent } from './pii-plan.js'
import { reassignOwnershipSql, setSequencesSql } from './mirror-sql.js'
import { withAdmin, quoteIdent, quoteLiteral, qualified } from './pg-admin.js'
import type { PgBinaries } from './pg-binaries.js'
import { ADMIN_ROLE, initDataDir, OWNER_ROLE, startServer, stopServer, type RunAs, type ServerSettings } from './pg-server.js'
import { adminEnv, copyRows, CopyFailed, pgDump, psqlScript, toolError } from './psql.js'
import { loggedAs } from './logged.js'
import { Sampler, type SampleInput, type TablePlan } from './sampler.js'
import { connectSource, readCatalog, sourceError, type SourceCatalog } from './source.js'
import { libpqEnv, type SourceConn } from './source-url.js'

export interface MirrorBuild {
  source: SourceConn
  salt: string
  sample: SampleInput
  masking: MaskingInput
  /** Picks binaries for the source's major version (may warn). */
  binaries: (sourceMajor: number) => { bins: PgBinaries; warning?: string }
  pool: StoragePool
  /** Directory (in the pool, must not exist) that receives `pgdata/` and `server.log`. */
  dir: string
  port: number
  socketDir: string
  name: string
  runAs: RunAs | undefined
  settings: ServerSettings
  log: Logger
  onProgress?: (p: z.infer<typeof MirrorProgress>) => void
  /** The source is reachable and readable, the rules fit, the space suffices: the heavy part begins. */
  onPrepared?: () => void
}

export interface BuiltMirror {
  dataDir: string
  database: string
  bins: PgBinaries
  report: MirrorReport
}

const dumpArgs = ['--schema-only', '--no-owner', '--no-privileges', '--no-publications', '--no-subscriptions', '--no-security-labels', '--no-tablespaces']

/** Builds a mirror into `b.dir`. On any failure the server is stopped and `b.dir` removed: nothing half-made stays. */
export async function buildMirror(b: MirrorBuild): Promise<BuiltMirror> {
  const started = performance.now()
  const warnings: string[] = []
  const dataDir = `${b.dir}/pgdata`
  const srcEnv = libpqEnv(b.source)
  let client: pg.Client | undefined
  let created = false
  try {
    // One REPEATABLE READ snapshot, exported, so pg_dump and every COPY see the same instant: keys stay consistent.
    client = await connectSource(b.source)
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    let snapshot: string | undefined
    try {
      snapshot = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s
    } catch (err) {
      await client.query('ROLLBACK')
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      warnings.push(`source cannot export a snapshot (${(err as Error).message}); tables are read one after another, not at one instant`)
    }
    const catalog = await readCatalog(client)
    await exactCounts(client, catalog)
    const { bins, warning } = b.binaries(catalog.major)
    if (warning) warnings.push(warning)
    const masking = resolveMasking(catalog.tables, b.masking)
    warnings.push(...masking.warnings)
    // Content scanning: which columns, and the names to look for (learned from the source in this snapshot).
    const content = b.masking.content !== false
    const contentPlan = planContent(catalog.tables, masking, content)
    const names = nameColumns(catalog.tables, masking.plan)
    const book = content ? await learnNames(client, names) : new Map<string, 'first' | 'last'>()
    const sampler = new Sampler(catalog.tables, b.sample, masking.plan, b.salt, { plan: contentPlan, masker: new ContentMasker(b.salt, book) })
    for (const key of Object.keys(b.sample.perTable)) {
      if (!sampler.tables.some((p) => p.key === key || (p.table.schema === 'public' && p.table.name === key))) warnings.push(`sample.perTable ${JSON.stringify(key)} matched no table`)
    }
    await preflightSpace(b.pool, sampler)
    b.onPrepared?.()

    // Our own server for the mirror.
    created = true
    await freshDataDir(b, bins, dataDir)
    // Bulk load settings for the build only: minimal WAL (COPY into a table truncated in the same
    // transaction writes none), room for index builds. Clones start with the plain settings.
    await startServer({
      bins,
      dataDir,
      port: b.port,
      socketDir: b.socketDir,
      name: b.name,
      runAs: b.runAs,
      logFile: `${b.dir}/server.log`,
      settings: { wal_level: 'minimal', max_wal_senders: '0', maintenance_work_mem: '256MB', autovacuum: 'off' },
    })
    const database = catalog.database
    await withAdmin({ socketDir: b.socketDir, port: b.port }, 'template1', async (c) => {
      await c.query(`CREATE ROLE ${quoteIdent(OWNER_ROLE)} NOLOGIN`)
      for (const r of catalog.roles) if (r !== OWNER_ROLE && r !== ADMIN_ROLE) await c.query(`CREATE ROLE ${quoteIdent(r)} NOLOGIN`)
      await c.query('DROP DATABASE IF EXISTS postgres') // fewer files to clone; the mirror's database takes its place
      try {
        await c.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE ${quoteLiteral(catalog.collate)} LC_CTYPE ${quoteLiteral(catalog.ctype)}`)
      } catch (err) {
        warnings.push(`locale ${catalog.collate} is not available here (${(err as Error).message}); the mirror uses C`)
        await c.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`)
      }
    })
    const mirrorEnv = adminEnv(b.socketDir, b.port, database)
    const snapArg = snapshot ? [`--snapshot=${snapshot}`] : []
    const progress: z.infer<typeof MirrorProgress> = { phase: 'schema', tablesDone: 0, tables: sampler.tables.length, rows: 0 }
    b.onProgress?.({ ...progress })
    const phases: Record<string, number> = {}
    let phaseStart = started
    const phaseDone = (name: string) => {
      const now = performance.now()
      phases[name] = Math.round(now - phaseStart)
      phaseStart = now
    }
    phaseDone('setup')

    const preData = await pgDump(bins, srcEnv, [...dumpArgs, '--section=pre-data', ...snapArg]).catch((err) => {
      throw new AppError('internal', `pg_dump of the source failed: ${toolError(err)}`)
    })
    const postData = await pgDump(bins, srcEnv, [...dumpArgs, '--section=post-data', ...snapArg]).catch((err) => {
      throw new AppError('internal', `pg_dump of the source failed: ${toolError(err)}`)
    })
    await psqlScript(bins, mirrorEnv, preData).catch((err) => {
      throw schemaError(err, bins)
    })

    // Rows: seeds first, then whatever the seeds reference, round by round, until nothing is missing.
    const txn = (sql: string) => `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n${snapshot ? `SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)};\n` : ''}${sql};\nCOMMIT;\n`
    let rowsBefore = 0
    const pipe = async (p: TablePlan, sql: string, phase: 'seed' | 'closure') => {
      const base = rowsBefore
      const target = `${qualified(p.table.schema, p.table.name)} (${sampler.selectList(p)})`
      // A seed goes into an empty table: COPY FREEZE writes its rows frozen and all-visible, so the
      // final VACUUM (FREEZE) has nothing to rewrite there (plain tables only; it needs a TRUNCATE first).
      const freeze = phase === 'seed' && p.table.relkind === 'r'
      const n = await copyRows({
        bins,
        sourceEnv: srcEnv,
        sourceScript: txn(sql),
        targetEnv: mirrorEnv,
        targetCommands: freeze ? ['BEGIN', `TRUNCATE ${qualified(p.table.schema, p.table.name)}`, `COPY ${target} FROM STDIN WITH (FREEZE)`, 'COMMIT'] : [`COPY ${target} FROM STDIN`],
        // Rows that need nothing (no keys to track, nothing to mask) stream through untouched.
        take: sampler.untouched(p) ? undefined : (line) => sampler.take(p, line, phase),
        onRows: (rows) => {
          if (rows - (progress.rows - base) >= 10_000) b.onProgress?.({ ...progress, rows: base + rows })
        },
      }).catch((err) => {
        throw copyError(err, p, b.source)
      })
      if (sampler.untouched(p)) sampler.count(p, n, phase)
      rowsBefore += n
      progress.rows = rowsBefore
    }
    phaseDone('schema')
    progress.phase = 'data'
    for (const p of sampler.tables) {
      progress.table = p.key
      b.onProgress?.({ ...progress })
      const sql = sampler.seedCopy(p, b.sample.seed)
      if (sql) await pipe(p, sql, 'seed')
      progress.tablesDone++
    }
    for (let round = 0; ; round++) {
      const fetches = sampler.missing()
      if (fetches.length === 0) break
      if (round > 10_000) throw new AppError('internal', 'foreign-key closure did not converge')
      for (const f of fetches) {
        progress.table = f.plan.key
        await pipe(f.plan, sampler.fetchCopy(f), 'closure')
        const lost = sampler.unresolved(f)
        if (lost.length > 0) {
          throw new AppError(
            'invalid_request',
            `source table ${f.plan.key} has no readable row with ${f.keyset.columns.join(', ')} = ${lost[0]!.replace(/\t/g, ', ')} though other rows reference it (row-level security hiding rows from ${b.source.user}, or a foreign key the source does not enforce); grant the role BYPASSRLS or read access to every row`,
            { reason: 'permission', table: f.plan.key },
          )
        }
      }
    }

    phaseDone('data')
    progress.phase = 'constraints'
    delete progress.table
    b.onProgress?.({ ...progress })
    const seqs = catalog.sequences.filter((s) => /^-?\d+$/.test(s.lastValue))
    await psqlScript(bins, mirrorEnv, `${setSequencesSql(seqs)}\n${postData}`).catch((err) => {
      throw new AppError('internal', `restoring indexes and constraints into the mirror failed: ${toolError(err)}`)
    })
    phaseDone('constraints')
    progress.phase = 'finish'
    b.onProgress?.({ ...progress })
    const refresh = catalog.matviews.map((m) => `REFRESH MATERIALIZED VIEW ${qualified(m.schema, m.name)};`).join('\n')
    await psqlScript(bins, mirrorEnv, `${refresh}\n${reassignOwnershipSql(database)}`).catch((err) => {
      throw new AppError('internal', `finishing the mirror failed: ${toolError(err)}`)
    })
    // template0 and template1 only serve CREATE DATABASE, which clone roles may not run: two thirds fewer
    // files to clone. Frozen, analysed, checkpointed: clones read it without rewriting pages (which would
    // un-share extents).
    await psqlScript(
      bins,
      mirrorEnv,
      'ALTER DATABASE template0 IS_TEMPLATE false;\nDROP DATABASE template0;\nALTER DATABASE template1 IS_TEMPLATE false;\nDROP DATABASE template1;\nVACUUM (FREEZE, ANALYZE);\nCHECKPOINT;\nCHECKPOINT;',
    )
    await stopServer(dataDir, 'fast')
    await runCommand('sync', ['-f', dataDir], { allowFailure: true })

    phaseDone('finish')
    const usage = await b.pool.usage(dataDir)
    const durationMs = performance.now() - started
    const rows = sampler.tables.reduce((n, p) => n + p.sampled + p.added, 0)
    return {
      dataDir,
      database,
      bins,
      report: {
        tables: sampler.tables.map((p) => ({
          table: p.key,
          sourceRows: p.table.estimate,
          rows: p.sampled + p.added,
          sampled: p.sampled,
          addedForKeys: p.added,
          masked: p.masks.map((m) => ({ column: p.columns[m.index]!.name, rule: m.rule })),
        })),
        rows,
        bytes: usage.bytes,
        durationMs: Math.round(durationMs),
        phasesMs: phases,
        rowsPerSecond: Math.round(rows / (durationMs / 1000)),
        pgVersion: bins.version,
        warnings,
        masking: maskingReport({
          dryRun: false,
          content,
          tables: catalog.tables,
          plan: contentPlan,
          tallies: new Map(sampler.tables.map((p) => [p.table.oid, new Map(p.scans.map((sc) => [p.columns[sc.index]!.name, sc.tally]))])),
          rows: new Map(sampler.tables.map((p) => [p.table.oid, p.sampled + p.added])),
          names: { columns: names, book },
          warnings: [],
        }),
      },
    }
  } catch (err) {
    if (created) {
      await stopServer(dataDir, 'immediate').catch(loggedAs(b.log, 'stopping the failed mirror build server', { dir: b.dir }))
      await b.pool.remove(b.dir).catch(loggedAs(b.log, 'removing the failed mirror build', { dir: b.dir }))
    }
    throw await spaceOr(err, b.pool)
  } finally {
    // The source's read-only snapshot ends; a connection that cannot take this is already gone.
    await client?.query('ROLLBACK').catch(() => undefined)
    await client?.end().catch(() => undefined)
  }
}

/**
 * A fresh cluster in `dataDir`: a reflink copy of an initdb made once per major version and settings
 * (initdb takes most of a second; the copy milliseconds).
 */
async function freshDataDir(b: MirrorBuild, bins: PgBinaries, dataDir: string): Promise<void> {
  const key = createHash('sha256')
    .update(JSON.stringify([bins.dir, bins.version, b.settings, b.runAs?.uid ?? null]))
    .digest('hex')
    .slice(0, 12)
  const template = `${b.pool.root}/initdb/pg${bins.major}-${key}`
  if (
    !(await stat(template).then(
      () => true,
      () => false,
    ))
  ) {
    const tmp = `${template}.${process.pid}.${Date.now()}`
    try {
      await initDataDir(bins, tmp, b.runAs, b.settings)
      await rename(tmp, template)
    } catch (err) {
      await b.pool.remove(tmp).catch(loggedAs(b.log, 'removing a half-made initdb template', { dir: tmp }))
      if (
        !(await stat(template).then(
          () => true,
          () => false,
        ))
      )
        throw err
    }
  }
  await b.pool.clone(template, dataDir)
}

/** Replaces planner estimates by exact counts for tables small enough to count quickly. */
async function exactCounts(client: pg.Client, catalog: SourceCatalog): Promise<void> {
  for (const t of catalog.tables) {
    if (t.bytes > 64 * 1_048_576) continue
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.relkind === 'r' ? 'ONLY ' : ''}${qualified(t.schema, t.name)}`)
    t.estimate = Number(r.rows[0]!.n)
  }
}

/** Refuses a build that cannot fit before anything is created. */
async function preflightSpace(pool: StoragePool, sampler: Sampler): Promise<void> {
  const space = await pool.space()
  const share = (p: TablePlan) => (p.seed.skip ? 0 : Math.min(1, p.seed.percent / 100))
  const estimate = 48 * 1_048_576 + sampler.tables.reduce((n, p) => n + p.table.bytes * share(p), 0)
  if (estimate > space.freeBytes) throw new PoolFullError(pool.root, space)
}

function schemaError(err: unknown, bins: PgBinaries): AppError {
  const text = toolError(err)
  const ext = /extension "([^"]+)"|could not open extension control file "[^"\n]*\/([^/"\n]+)\.control"/.exec(text)
  if (ext) {
    const name = ext[1] ?? ext[2]
    return new AppError(
      'runtime_unavailable',
      `the source uses extension ${name}, which PostgreSQL ${bins.version} here lacks: install it (e.g. apt-get install postgresql-${bins.major}-${name}) and mirror again (${text})`,
    )
  }
  return new AppError('internal', `restoring the source schema into the mirror failed: ${text}`)
}

function copyError(err: unknown, p: TablePlan, source: SourceConn): Error {
  if (err instanceof CopyFailed && err.side === 'source') {
    if (/permission denied/i.test(err.stderr)) return new AppError('invalid_request', `source role ${source.user} cannot read ${p.key}: ${err.message}; grant it SELECT`, { reason: 'permission' })
    if (/could not connect|connection to server/i.test(err.stderr)) return sourceError(Object.assign(new Error(err.stderr), { code: 'ECONNREFUSED' }), source)
    return new AppError('internal', `reading ${p.key} from the source failed: ${err.message}`)
  }
  if (err instanceof CopyFailed) return new Error(`loading ${p.key} into the mirror failed: ${err.message}`, { cause: err })
  return err as Error
}

/** Out-of-space anywhere (cp, initdb, the mirror server) surfaces as PoolFullError. */
async function spaceOr(err: unknown, pool: StoragePool): Promise<unknown> {
  if (err instanceof PoolFullError) return err
  const text = `${(err as Error)?.message ?? ''} ${toolError(err)} ${String((err as { cause?: unknown })?.cause ?? '')}`
  if (/No space left on device|could not extend file|ENOSPC/i.test(text)) return new PoolFullError(pool.root, await pool.space().catch(() => undefined), err) // only detail for the PoolFullError, which is the failure reported
  return err
}
