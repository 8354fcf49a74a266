/** @module insights/triage — a red run's failures with root cause and evidence, grouped, as JSON and PR-ready Markdown. */
import type { Anomaly, FileProblem, InfraMetrics, Remediation, Run, Triage, TriageFailure } from '@tidepool/sdk'
import type { InsightsEnv } from './deps.js'
import { foldRows } from './flakiness.js'
import { saturation } from './infra.js'
import { getRunRow } from './ingest.js'
import { rankCause, type FailureFacts } from './root-cause.js'
import { isDefaultBranch, loadSettings, parseJson, runFromRow } from './runs.js'
import { outcomeName, type RunRow, type TestRow } from './tables.js'
import { evidenceKinds } from './test-view.js'

/** At most this many failures get per-test history lookups; the rest are grouped by signature only. */
const maxDetailed = 300

export interface TriageCore {
  runRow: RunRow
  run: Run
  failures: TriageFailure[]
  groups: Triage['groups']
  anomalies: Anomaly[]
  problems: FileProblem[]
  saturation: string[]
  verdict: Triage['verdict']
}

/** Ranks every failing test of a run. Assumes the project was analysed. */
export async function triageRun(env: InsightsEnv, project: string, runId: string): Promise<TriageCore> {
  const runRow = await getRunRow(env, project, runId)
  const settings = await loadSettings(env.db, project, env.cfg)
  const isDefault = (b: string) => isDefaultBranch(b, settings, env.cfg)
  const run = runFromRow(runRow, isDefault(runRow.branch))

  const rows = await env.db
    .selectFrom('insight_results')
    .select(['test_id', 'outcome', 'attempts', 'fails', 'duration_ms', 'signature', 'message'])
    .where('project', '=', project)
    .where('run_id', '=', runId)
    .where('fails', '>', 0)
    .execute()
  const byTest = new Map<string, typeof rows>()
  for (const r of rows) {
    let l = byTest.get(r.test_id)
    if (!l) byTest.set(r.test_id, (l = []))
    l.push(r)
  }
  // Tests that passed in another file of the same run are flaky-in-run, not failures: fold all rows of those tests.
  const failingIds = [...byTest.keys()]
  const allRows = failingIds.length
    ? await env.db
        .selectFrom('insight_results')
        .select(['test_id', 'outcome', 'attempts', 'fails', 'duration_ms', 'signature', 'message'])
        .where('project', '=', project)
        .where('run_id', '=', runId)
        .where('test_id', 'in', failingIds.slice(0, 2000))
        .execute()
    : []
  const folded = new Map<string, { outcome: 'fail' | 'flaky'; signature?: string | undefined; message?: string | undefined }>()
  for (const id of failingIds) {
    const rs = allRows.filter((r) => r.test_id === id)
    const f = foldRows((rs.length ? rs : byTest.get(id)!).map((r) => ({ outcome: outcomeName[r.outcome] ?? 'skip', attempts: r.attempts, fails: r.fails, signature: r.signature ?? undefined })))
    if (f.fails === 0) continue
    const msg = (rs.length ? rs : byTest.get(id)!).find((r) => r.message)?.message ?? undefined
    folded.set(id, { outcome: f.outcome === 'pass' ? 'flaky' : 'fail', signature: f.signature, message: msg })
  }

  const testRows = folded.size
    ? await env.db
        .selectFrom('insight_tests')
        .selectAll()
        .where('project', '=', project)
        .where('id', 'in', [...folded.keys()].slice(0, 2000))
        .execute()
    : []
  const tests = new Map<string, TestRow>(testRows.map((t) => [t.id, t]))
  const sigIds = [...new Set([...folded.values()].map((f) => f.signature).filter((s): s is string => !!s))]
  const sigRows = sigIds.length
    ? await env.db.selectFrom('insight_signatures').select(['id', 'text', 'infra_like']).where('project', '=', project).where('id', 'in', sigIds.slice(0, 2000)).execute()
    : []
  const sigs = new Map(sigRows.map((s) => [s.id, s]))

  // Infra facts of the run and its event samples; links from events.
  const events = await env.db.selectFrom('insight_events').select(['kind', 'test_id', 'body']).where('project', '=', project).where('run_id', '=', runId).execute()
  const metrics: (InfraMetrics | undefined)[] = [parseJson<InfraMetrics>(runRow.infra)]
  const links = new Map<string, { logsUrl?: string; snapshotUrl?: string }>()
  for (const e of events) {
    const body = parseJson<{ infra_metrics?: InfraMetrics; logs_url?: string; snapshot_url?: string; test_id?: string }>(e.body)
    if (body?.infra_metrics) metrics.push(body.infra_metrics)
    if (body?.test_id && (body.logs_url || body.snapshot_url)) {
      links.set(body.test_id, { ...links.get(body.test_id), ...(body.logs_url ? { logsUrl: body.logs_url } : {}), ...(body.snapshot_url ? { snapshotUrl: body.snapshot_url } : {}) })
    }
  }
  const sat = saturation(metrics, env.cfg.infra)

  const hist = await priorHistory(env, project, runRow, [...folded.keys()].slice(0, maxDetailed))
  const failures: TriageFailure[] = []
  for (const [testId, f] of folded) {
    const t = tests.get(testId)
    const sig = f.signature ? sigs.get(f.signature) : undefined
    let facts: FailureFacts = {
      outcome: f.outcome,
      signature: f.signature,
      signatureInfraLike: sig?.infra_like === 1,
      run: { infraSuspect: runRow.infra_suspect === 1, infraReason: runRow.infra_reason ?? undefined, saturation: sat, onDefaultBranch: run.defaultBranch },
      test: {
        status: (t?.status as 'flaky' | 'broken' | 'healthy') ?? 'healthy',
        tier: t?.tier ?? 'none',
        score: t?.score ?? 0,
        interval: [t?.lo ?? 0, t?.hi ?? 1],
        n: t?.n ?? 0,
        failStreak: t?.streak ?? 0,
        cluster: t?.cluster ?? undefined,
        evidence: t ? evidenceKinds(t.evidence_kinds) : [],
        flips: t?.flips ?? 0,
      },
      signatureSeenForTest: false,
      signatureSeenInProject: true,
      newTest: t ? t.first_seen >= runRow.at : true,
    }
    const h = hist.get(testId)
    if (h) facts = { ...facts, ...(await historyFacts(env, project, runRow, h, f.signature, isDefault)) }
    const ranked = rankCause(facts)
    const link = links.get(testId) ?? (t ? links.get(t.name) : undefined)
    failures.push({
      testId,
      suite: t?.suite ?? '',
      name: t?.name ?? testId,
      ...(t?.file ? { file: t.file } : {}),
      outcome: f.outcome,
      class: ranked.class,
      confidence: ranked.confidence,
      evidence: ranked.evidence,
      candidates: ranked.candidates,
      ...(f.signature ? { signature: f.signature } : {}),
      ...(f.message ? { message: f.message } : {}),
      ...(t?.cluster ? { cluster: t.cluster } : {}),
      ...(link?.logsUrl ? { logsUrl: link.logsUrl } : {}),
      ...(link?.snapshotUrl ? { snapshotUrl: link.snapshotUrl } : {}),
    })
  }
  failures.sort((a, b) => b.confidence - a.confidence || a.suite.localeCompare(b.suite) || a.name.localeCompare(b.name))

  // Groups: co-failing clusters first, then shared signatures.
  const groups: Triage['groups'] = []
  const grouped = new Set<string>()
  const byCluster = new Map<string, string[]>()
  for (const f of failures) if (f.cluster) byCluster.set(f.cluster, [...(byCluster.get(f.cluster) ?? []), f.testId])
  for (const [c, ids] of byCluster) {
    if (ids.length < 2) continue
    groups.push({ cause: `co-failing cluster ${c}`, tests: ids })
    for (const id of ids) grouped.add(id)
  }
  const bySig = new Map<string, string[]>()
  for (const f of failures) if (f.signature && !grouped.has(f.testId)) bySig.set(f.signature, [...(bySig.get(f.signature) ?? []), f.testId])
  for (const [s, ids] of bySig) if (ids.length >= 2) groups.push({ cause: `signature ${s}: ${sigs.get(s)?.text ?? ''}`.trim(), tests: ids })

  const anomalyRows = await env.db.selectFrom('insight_anomalies').select('body').where('project', '=', project).where('type', '=', 'regression').execute()
  const anomalies = anomalyRows.map((r) => JSON.parse(r.body) as Anomaly).filter((a) => a.changePoint?.runId === runId || (a.changePoint?.commit === runRow.commit_sha && a.runId === runId))
  const files = await env.db.selectFrom('insight_files').select(['summary']).where('project', '=', project).where('run_id', '=', runId).execute()
  const problems = files.flatMap((f) => parseJson<{ errors: FileProblem[] }>(f.summary)?.errors ?? [])

  const finals = failures.filter((f) => f.outcome === 'fail')
  const verdict: Triage['verdict'] =
    finals.length === 0
      ? problems.length > 0 || runRow.file_errors > 0
        ? 'incomplete'
        : 'green'
      : finals.every((f) => f.class === 'infrastructure')
        ? 'infrastructure'
        : finals.every((f) => f.class === 'known_flaky')
          ? 'flaky_only'
          : 'needs_attention'
  return { runRow, run, failures, groups, anomalies, problems, saturation: sat, verdict }
}

interface PriorRun {
  id: string
  commit: string
  branch: string
  variant: string
  /** This test's outcome and signature in the run. */
  outcome: 'pass' | 'fail' | 'skip'
  signature?: string | undefined
}

/** The given tests' results in the newest 300 runs before this one (newest first), via the run-major index. */
async function priorHistory(env: InsightsEnv, project: string, run: RunRow, testIds: readonly string[]): Promise<Map<string, PriorRun[]>> {
  const out = new Map<string, PriorRun[]>()
  if (testIds.length === 0) return out
  const prior = await env.db
    .selectFrom('insight_runs')
    .select(['id', 'commit_sha', 'branch', 'variant_key', 'at'])
    .where('project', '=', project)
    .where('at', '<=', run.at)
    .where('id', '!=', run.id)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(300)
    .execute()
  const perTest = new Map<string, Map<string, { pass: boolean; fail: boolean; sig?: string | undefined }>>()
  for (let i = 0; i < prior.length; i += 100) {
    for (let j = 0; j < testIds.length; j += 200) {
      const rows = await env.db
        .selectFrom('insight_results')
        .select(['run_id', 'test_id', 'outcome', 'signature'])
        .where('project', '=', project)
        .where(
          'run_id',
          'in',
          prior.slice(i, i + 100).map((r) => r.id),
        )
        .where('test_id', 'in', testIds.slice(j, j + 200))
        .execute()
      for (const r of rows) {
        let m = perTest.get(r.test_id)
        if (!m) perTest.set(r.test_id, (m = new Map()))
        const e = m.get(r.run_id) ?? { pass: false, fail: false }
        if (r.outcome === 0) e.pass = true
        if (r.outcome === 1) e.fail = true
        e.sig ??= r.signature ?? undefined
        m.set(r.run_id, e)
      }
    }
  }
  for (const [testId, m] of perTest) {
    const list: PriorRun[] = []
    for (const p of prior) {
      const e = m.get(p.id)
      if (!e) continue
      list.push({ id: p.id, commit: p.commit_sha, branch: p.branch, variant: p.variant_key, outcome: e.pass ? 'pass' : e.fail ? 'fail' : 'skip', signature: e.sig })
    }
    out.set(testId, list)
  }
  return out
}

async function historyFacts(
  env: InsightsEnv,
  project: string,
  run: RunRow,
  hist: readonly PriorRun[],
  signature: string | undefined,
  isDefault: (b: string) => boolean,
): Promise<Partial<FailureFacts>> {
  const out: Partial<FailureFacts> = { signatureSeenForTest: signature !== undefined && hist.some((h) => h.signature === signature) }
  for (const h of hist) {
    if (h.outcome === 'skip') continue
    if (!out.defaultBranch && isDefault(h.branch)) out.defaultBranch = { runId: h.id, commit: h.commit, outcome: h.outcome }
    if (!out.previousOnBranch && h.branch === run.branch && h.variant === run.variant_key && h.commit !== run.commit_sha) out.previousOnBranch = { runId: h.id, commit: h.commit, outcome: h.outcome }
    if (out.defaultBranch && out.previousOnBranch) break
  }
  if (signature) {
    const seen = await env.db.selectFrom('insight_results').select('run_id').where('project', '=', project).where('signature', '=', signature).where('at', '<', run.at).limit(1).executeTakeFirst()
    out.signatureSeenInProject = seen !== undefined || out.signatureSeenForTest === true
  }
  return out
}

const classLabel: Record<TriageFailure['class'], string> = {
  infrastructure: 'infrastructure',
  failing_on_default_branch: 'also failing on the default branch',
  known_flaky: 'known flaky',
  this_change: 'likely this change',
}
const verdictLabel: Record<Triage['verdict'], string> = {
  green: 'green',
  infrastructure: 'infrastructure trouble, not your change',
  flaky_only: 'only known flaky tests failed',
  needs_attention: 'needs attention',
  incomplete: 'incomplete: a report is missing or unreadable',
}

/** PR-ready Markdown. Deterministic: the same triage always renders the same text. */
export function renderMarkdown(t: TriageCore, remediations: readonly Remediation[]): string {
  const r = t.run
  const lines: string[] = []
  lines.push(`## tidepool triage: run \`${r.id}\``)
  lines.push('')
  lines.push(`${r.branch} @ \`${r.commit.slice(0, 12)}\`${r.pr ? ` · PR ${r.pr}` : ''}${r.pipeline ? ` · ${r.pipeline}` : ''}${variantText(r.variant)} · attempt ${r.attempt}`)
  lines.push('')
  const finals = t.failures.filter((f) => f.outcome === 'fail').length
  const flaky = t.failures.length - finals
  lines.push(`**Verdict: ${verdictLabel[t.verdict]}** — ${finals} failed, ${flaky} passed on retry, ${r.summary.tests} tests in ${r.summary.files} report(s).`)
  if (r.infraSuspect) lines.push('', `> Suspected infrastructure outage: ${r.infraReason ?? ''}. This run is left out of flakiness scores.`)
  if (t.saturation.length) lines.push('', `> Resource saturation: ${t.saturation.join('; ')}.`)
  if (t.failures.length) {
    lines.push('', '| # | test | cause | confidence | evidence |', '|---|---|---|---|---|')
    t.failures.slice(0, 50).forEach((f, i) => {
      const ev = f.evidence.map((e) => e.detail).join('; ') || '—'
      const name = `${f.suite ? `${f.suite} › ` : ''}${f.name}${f.outcome === 'flaky' ? ' (passed on retry)' : ''}`
      lines.push(`| ${i + 1} | ${cell(name)} | ${classLabel[f.class]} | ${f.confidence.toFixed(2)} | ${cell(ev)} |`)
    })
    if (t.failures.length > 50) lines.push('', `…and ${t.failures.length - 50} more (see the JSON triage).`)
  }
  if (t.groups.length) {
    lines.push('', '### One cause, several tests')
    for (const g of t.groups.slice(0, 10)) lines.push(`- ${cell(g.cause)} — ${g.tests.length} tests`)
  }
  const firstErr = t.failures.find((f) => f.outcome === 'fail' && f.message)
  if (firstErr?.message) {
    lines.push('', `<details><summary>First error: ${cell(firstErr.name)}</summary>`, '', '```', firstErr.message.split('\n').slice(0, 15).join('\n').replace(/```/g, "'''"), '```', '', '</details>')
  }
  if (t.anomalies.length) {
    lines.push('', '### Slower since this change')
    for (const a of t.anomalies.slice(0, 10))
      lines.push(`- ${cell(a.label)}: ${a.ratio.toFixed(2)}× (median ${Math.round(a.baselineMs)} ms before${a.pValue !== undefined ? `, p=${a.pValue.toExponential(1)}` : ''})`)
  }
  if (remediations.length) {
    lines.push('', '### Suggested actions')
    for (const m of remediations) {
      const gate = m.gates.find((g) => !g.pass)
      lines.push(`- **${m.kind}** (${m.status}${gate && m.status !== 'applied' ? `; ${gate.gate}: ${gate.reason}` : ''}) — ${m.reason}`)
    }
  }
  if (t.problems.length) {
    lines.push('', '### Missing data')
    for (const p of t.problems) lines.push(`- \`${p.file}\`: ${p.kind} — ${p.message}`)
  }
  lines.push('')
  return lines.join('\n')
}

function variantText(v: Record<string, string>): string {
  const keys = Object.keys(v).sort()
  return keys.length ? ` · ${keys.map((k) => `${k}=${v[k]}`).join(', ')}` : ''
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').slice(0, 300)
}
