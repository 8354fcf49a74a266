/** @module insights/analysis-persist — step 5 of an analysis: one transaction writes run verdicts, test verdicts, anomalies and clusters. */
import type { Anomaly } from '@tidepool/sdk'
import type { JudgedVerdict } from './analysis-judge.js'
import type { RunMeta } from './analysis-reads.js'
import type { FoundCluster } from './clusters.js'
import { chunks, type InsightsEnv } from './deps.js'
import type { AnomalyRow, TestRow } from './tables.js'

export interface AnalysisOutcome {
  full: boolean
  /** Runs whose outage verdict was (re)computed. */
  changedRuns: readonly RunMeta[]
  tests: ReadonlyMap<string, TestRow>
  verdicts: ReadonlyMap<string, JudgedVerdict>
  anomalies: readonly Anomaly[]
  /** `kind\u0000subject` of every test and suite whose anomalies were recomputed (their old ones go). */
  judgedSubjects: ReadonlySet<string>
  clusters: readonly FoundCluster[]
  clusterOf: ReadonlyMap<string, string>
}

export async function persistAnalysis(env: InsightsEnv, project: string, o: AnalysisOutcome): Promise<void> {
  const { changedRuns, tests, verdicts, anomalies, judgedSubjects, clusters, clusterOf } = o
  const now = env.clock.now()
  await env.db.transaction().execute(async (trx) => {
    for (const run of changedRuns) {
      await trx
        .updateTable('insight_runs')
        .set({ infra_suspect: run.infra ? 1 : 0, infra_reason: run.infraReason, analyzed: 1 })
        .where('project', '=', project)
        .where('id', '=', run.id)
        .execute()
    }
    const log: { project: string; test_id: string; at: number; from_status: string; to_status: string }[] = []
    const updates: TestRow[] = []
    for (const [id, v] of verdicts) {
      const prev = tests.get(id)!
      if (prev.status !== v.status) log.push({ project, test_id: id, at: v.since ?? now, from_status: prev.status, to_status: v.status })
      updates.push({
        ...prev,
        first_seen: v.firstSeen,
        last_seen: v.lastSeen,
        status: v.status,
        tier: v.tier,
        score: v.score.mean,
        lo: v.score.lo,
        hi: v.score.hi,
        n: v.n,
        fails: v.fails,
        evidence: v.evidence,
        excluded: v.excluded,
        streak: v.failStreak,
        since: v.since ?? null,
        cluster: clusterOf.get(id) ?? null,
        evidence_kinds: v.evidenceKinds.join(','),
        flips: v.flips,
      })
    }
    // Cluster membership can change for tests not judged this time.
    for (const t of tests.values()) {
      if (verdicts.has(t.id)) continue
      const c = clusterOf.get(t.id) ?? null
      if (c !== t.cluster) updates.push({ ...t, cluster: c })
    }
    if (env.sqlite) {
      const upd = env.sqlite.prepare(
        'UPDATE insight_tests SET first_seen = ?, last_seen = ?, status = ?, tier = ?, score = ?, lo = ?, hi = ?, n = ?, fails = ?, evidence = ?, excluded = ?, streak = ?, since = ?, cluster = ?, evidence_kinds = ?, flips = ? WHERE project = ? AND id = ?',
      )
      for (const u of updates)
        upd.run(u.first_seen, u.last_seen, u.status, u.tier, u.score, u.lo, u.hi, u.n, u.fails, u.evidence, u.excluded, u.streak, u.since, u.cluster, u.evidence_kinds, u.flips, project, u.id)
    } else {
      for (const u of updates) {
        const { project: _p, id: _i, ...set } = u
        await trx.updateTable('insight_tests').set(set).where('project', '=', project).where('id', '=', u.id).execute()
      }
    }
    for (const batch of chunks(log, 500)) await trx.insertInto('insight_status_log').values(batch).execute()

    if (o.full) await trx.deleteFrom('insight_anomalies').where('project', '=', project).execute()
    else {
      for (const kind of ['queue', 'setup']) await trx.deleteFrom('insight_anomalies').where('project', '=', project).where('kind', '=', kind).execute()
      for (const batch of chunks([...judgedSubjects], 300)) {
        for (const kind of ['test', 'suite']) {
          const ids = batch.filter((s) => s.startsWith(`${kind}\u0000`)).map((s) => s.slice(kind.length + 1))
          if (ids.length) await trx.deleteFrom('insight_anomalies').where('project', '=', project).where('kind', '=', kind).where('subject', 'in', ids).execute()
        }
      }
    }
    const rows: AnomalyRow[] = anomalies.map((a) => ({
      project,
      id: a.id,
      kind: a.kind,
      subject: a.subject,
      label: a.label,
      type: a.type,
      at: Date.parse(a.at),
      run_id: a.runId,
      body: JSON.stringify(a),
    }))
    for (const batch of chunks(rows, 300)) {
      await trx
        .insertInto('insight_anomalies')
        .values(batch)
        .onConflict((oc) => oc.columns(['project', 'id']).doNothing())
        .execute()
    }
    await trx.deleteFrom('insight_clusters').where('project', '=', project).execute()
    const clusterRows = clusters.map((c) => ({
      project,
      id: c.id,
      body: JSON.stringify({
        id: c.id,
        tests: c.tests.map((t) => ({ testId: t, name: tests.get(t) ? `${tests.get(t)!.suite} › ${tests.get(t)!.name}` : t })),
        coFailures: c.coFailures,
        jaccard: c.jaccard,
        ...(c.signature ? { signature: c.signature } : {}),
      }),
    }))
    for (const batch of chunks(clusterRows, 300)) await trx.insertInto('insight_clusters').values(batch).execute()
  })
}
