/** @module insights/write — the ingest hot path: one report's rows in one transaction (raw better-sqlite3 on SQLite, Kysely elsewhere). */
import type SQLite from 'better-sqlite3'
import type { InsightsEnv } from './deps.js'
import { outcomeName, type FileRow, type ResultRow } from './tables.js'

export interface FileBatch {
  project: string
  runId: string
  at: number
  fileId: string
  /** A file of this name was ingested before: its rows are replaced. */
  replace: boolean
  results: ResultRow[]
  /** Tests not known to exist yet (inserted if absent). */
  tests: { id: string; framework: string; file: string; suite: string; name: string }[]
  signatures: Map<string, { text: string; example: string; infraLike: boolean }>
  file: FileRow
}

interface Stmts {
  deleteFile: SQLite.Statement
  insertResult: SQLite.Statement
  insertTest: SQLite.Statement
  insertSignature: SQLite.Statement
  upsertFile: SQLite.Statement
  runRows: SQLite.Statement
  fileCounts: SQLite.Statement
  runFiles: SQLite.Statement
  updateRun: SQLite.Statement
}

const prepared = new WeakMap<SQLite.Database, Stmts>()

function stmts(db: SQLite.Database): Stmts {
  let s = prepared.get(db)
  if (s) return s
  s = {
    deleteFile: db.prepare('DELETE FROM insight_results WHERE project = ? AND run_id = ? AND file_id = ?'),
    insertResult: db.prepare('INSERT INTO insight_results (project, run_id, file_id, test_id, at, outcome, attempts, fails, duration_ms, signature, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    insertTest: db.prepare(
      `INSERT INTO insight_tests (project, id, framework, file, suite, name, first_seen, last_seen, status, tier, score, lo, hi, n, fails, evidence, excluded, streak, since, cluster)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'healthy', 'none', 0.5, 0, 1, 0, 0, 0, 0, 0, NULL, NULL) ON CONFLICT (project, id) DO NOTHING`,
    ),
    insertSignature: db.prepare('INSERT INTO insight_signatures (project, id, text, example, infra_like) VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, id) DO NOTHING'),
    upsertFile: db.prepare(
      `INSERT INTO insight_files (project, run_id, id, name, hash, framework, tests, failures, errors, summary, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (project, run_id, id) DO UPDATE SET hash = excluded.hash, framework = excluded.framework, tests = excluded.tests,
       failures = excluded.failures, errors = excluded.errors, summary = excluded.summary, created_at = excluded.created_at`,
    ),
    runRows: db.prepare('SELECT test_id, outcome, attempts, fails, duration_ms FROM insight_results WHERE project = ? AND run_id = ?'),
    runFiles: db.prepare('SELECT files FROM insight_runs WHERE project = ? AND id = ?'),
    fileCounts: db.prepare('SELECT COUNT(*) AS files, COALESCE(SUM(CASE WHEN errors > 0 THEN 1 ELSE 0 END), 0) AS bad FROM insight_files WHERE project = ? AND run_id = ?'),
    updateRun: db.prepare('UPDATE insight_runs SET tests = ?, failed = ?, flaky = ?, skipped = ?, files = ?, file_errors = ?, test_ms = ?, analyzed = 0 WHERE project = ? AND id = ?'),
  }
  prepared.set(db, s)
  return s
}

/** Writes one report atomically and refreshes the run's summary. */
export async function writeFileBatch(env: InsightsEnv, b: FileBatch): Promise<void> {
  if (env.sqlite) {
    const s = stmts(env.sqlite)
    env.sqlite.transaction(() => {
      // The run's first report: its summary is this batch's (no need to read the rows back).
      const first = !b.replace && (s.runFiles.get(b.project, b.runId) as { files: number } | undefined)?.files === 0
      if (b.replace) s.deleteFile.run(b.project, b.runId, b.fileId)
      for (const r of b.results) {
        s.insertResult.run(r.project, r.run_id, r.file_id, r.test_id, r.at, r.outcome, r.attempts, r.fails, r.duration_ms, r.signature, r.message)
      }
      for (const t of b.tests) s.insertTest.run(b.project, t.id, t.framework, t.file, t.suite, t.name, b.at, b.at)
      for (const [id, sig] of b.signatures) s.insertSignature.run(b.project, id, sig.text, sig.example, sig.infraLike ? 1 : 0)
      const f = b.file
      s.upsertFile.run(f.project, f.run_id, f.id, f.name, f.hash, f.framework, f.tests, f.failures, f.errors, f.summary, f.created_at)
      const sum = summarizeRun(first ? b.results : (s.runRows.all(b.project, b.runId) as Parameters<typeof summarizeRun>[0]))
      const fc = s.fileCounts.get(b.project, b.runId) as { files: number; bad: number }
      s.updateRun.run(sum.tests, sum.failed, sum.flaky, sum.skipped, fc.files, fc.bad, sum.testMs, b.project, b.runId)
    })()
    return
  }
  await env.db.transaction().execute(async (trx) => {
    if (b.replace) {
      await trx.deleteFrom('insight_results').where('project', '=', b.project).where('run_id', '=', b.runId).where('file_id', '=', b.fileId).execute()
    }
    for (let i = 0; i < b.results.length; i += 1000)
      await trx
        .insertInto('insight_results')
        .values(b.results.slice(i, i + 1000))
        .execute()
    for (let i = 0; i < b.tests.length; i += 500) {
      const rows = b.tests.slice(i, i + 500).map((t) => ({
        project: b.project,
        id: t.id,
        framework: t.framework,
        file: t.file,
        suite: t.suite,
        name: t.name,
        first_seen: b.at,
        last_seen: b.at,
        status: 'healthy',
        tier: 'none',
        score: 0.5,
        lo: 0,
        hi: 1,
        n: 0,
        fails: 0,
        evidence: 0,
        excluded: 0,
        streak: 0,
        since: null,
        cluster: null,
        evidence_kinds: '',
        flips: 0,
      }))
      await trx
        .insertInto('insight_tests')
        .values(rows)
        .onConflict((oc) => oc.columns(['project', 'id']).doNothing())
        .execute()
    }
    const sigRows = [...b.signatures].map(([id, s]) => ({ project: b.project, id, text: s.text, example: s.example, infra_like: s.infraLike ? 1 : 0 }))
    for (let i = 0; i < sigRows.length; i += 500) {
      await trx
        .insertInto('insight_signatures')
        .values(sigRows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(['project', 'id']).doNothing())
        .execute()
    }
    const f = b.file
    await trx
      .insertInto('insight_files')
      .values(f)
      .onConflict((oc) =>
        oc
          .columns(['project', 'run_id', 'id'])
          .doUpdateSet({ hash: f.hash, framework: f.framework, tests: f.tests, failures: f.failures, errors: f.errors, summary: f.summary, created_at: f.created_at }),
      )
      .execute()
    const rows = await trx.selectFrom('insight_results').select(['test_id', 'outcome', 'attempts', 'fails', 'duration_ms']).where('project', '=', b.project).where('run_id', '=', b.runId).execute()
    const sum = summarizeRun(rows)
    const files = await trx.selectFrom('insight_files').select(['errors']).where('project', '=', b.project).where('run_id', '=', b.runId).execute()
    await trx
      .updateTable('insight_runs')
      .set({
        tests: sum.tests,
        failed: sum.failed,
        flaky: sum.flaky,
        skipped: sum.skipped,
        files: files.length,
        file_errors: files.filter((f) => f.errors > 0).length,
        test_ms: sum.testMs,
        analyzed: 0,
      })
      .where('project', '=', b.project)
      .where('id', '=', b.runId)
      .execute()
  })
}

/** Folds a run's result rows into its summary (a test in several files counts once; any pass wins). */
export function summarizeRun(rows: readonly Pick<ResultRow, 'test_id' | 'outcome' | 'attempts' | 'fails' | 'duration_ms'>[]) {
  const byTest = new Map<string, { pass: boolean; fail: boolean; fails: number; ms: number }>()
  for (const r of rows) {
    let t = byTest.get(r.test_id)
    if (!t) byTest.set(r.test_id, (t = { pass: false, fail: false, fails: 0, ms: 0 }))
    const o = outcomeName[r.outcome] ?? 'skip'
    if (o === 'pass') t.pass = true
    if (o === 'fail') t.fail = true
    t.fails += r.fails
    t.ms += r.duration_ms ?? 0
  }
  let failed = 0
  let flaky = 0
  let skipped = 0
  let testMs = 0
  for (const t of byTest.values()) {
    if (t.pass && t.fails > 0) flaky++
    else if (!t.pass && t.fail) failed++
    else if (!t.pass && !t.fail) skipped++
    testMs += t.ms
  }
  return { tests: byTest.size, failed, flaky, skipped, testMs }
}
