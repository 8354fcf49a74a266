/** @module cli/commands/insights — `tidepool runs …`, `ingest junit …`, `triage …`, `insights …`. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { Api, FileProblem, JunitIngestResult, OpInput } from '@tidepool/sdk'
import { parseVariant } from '../../insights/identity.js'
import type { CliCommand, CliContext } from '../command.js'
import { table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
const runFlags = {
  commit: { type: 'string' },
  tree: { type: 'string' },
  branch: { type: 'string' },
  attempt: { type: 'string' },
  variant: { type: 'string' },
  pipeline: { type: 'string' },
  pr: { type: 'string' },
  'started-at': { type: 'string' },
  sandbox: { type: 'string' },
} as const

/** Exit code when a report is missing or unreadable: the run is incomplete (sysexits EX_DATAERR). */
const dataError = 65

type Values = CliContext['values']
const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined)

function runInput(v: Values, id?: string): OpInput<'createRun'> {
  const commit = str(v, 'commit')
  const branch = str(v, 'branch')
  if (!commit || !branch) throw new Error('--commit and --branch are required (the commit SHA and branch the run tested)')
  const attempt = str(v, 'attempt')
  if (attempt !== undefined && !/^\d+$/.test(attempt)) throw new Error(`--attempt must be a whole number (got ${JSON.stringify(attempt)})`)
  return {
    ...(id ? { id } : {}),
    commit,
    branch,
    ...(str(v, 'tree') ? { tree: str(v, 'tree') } : {}),
    ...(attempt ? { attempt: Number(attempt) } : {}),
    ...(str(v, 'variant') ? { variant: parseVariant(str(v, 'variant')!) } : {}),
    ...(str(v, 'pipeline') ? { pipeline: str(v, 'pipeline') } : {}),
    ...(str(v, 'pr') ? { pr: str(v, 'pr') } : {}),
    ...(str(v, 'started-at') ? { startedAt: str(v, 'started-at') } : {}),
    // The tidepool sandbox the run executes in: its cgroup figures are joined when the run finishes.
    ...(str(v, 'sandbox') ? { infra: { sandboxId: str(v, 'sandbox')! } } : {}),
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`
}

function limitOf(v: Values): { limit?: number } {
  const l = str(v, 'limit')
  if (l === undefined) return {}
  if (!/^\d+$/.test(l)) throw new Error(`--limit must be a whole number (got ${JSON.stringify(l)})`)
  return { limit: Number(l) }
}

async function ingestFiles(api: Api, runId: string, files: string[], v: Values, cwd: string, io: CliContext['io']): Promise<{ results: JunitIngestResult[]; missing: FileProblem[] }> {
  const results: JunitIngestResult[] = []
  const missing: FileProblem[] = []
  for (const f of files) {
    const path = resolve(cwd, f)
    if (!existsSync(path)) {
      missing.push({ file: f, kind: 'missing', message: 'report file not found: missing data, not a pass' })
      io.info(`${f}: missing — counted as missing data, not a pass`)
      continue
    }
    let body: Uint8Array = readFileSync(path)
    // Big reports travel gzipped (the API accepts gzip); already-gzipped files go as they are.
    if (body.byteLength > 1_000_000 && !(body[0] === 0x1f && body[1] === 0x8b)) body = gzipSync(body)
    const r = await api.ingestJunit({
      id: runId,
      body,
      name: f.replace(/\.gz$/, ''),
      ...(str(v, 'framework') ? { framework: str(v, 'framework') as never } : {}),
      ...(str(v, 'root') ? { root: str(v, 'root') } : {}),
    })
    results.push(r)
    const note = r.duplicate ? ' (already ingested)' : r.replaced ? ' (replaced)' : ''
    io.info(`${f}: ${r.framework}, ${r.tests} tests, ${r.failures} failed, ${r.flaky} passed on retry${note}`)
    for (const p of [...r.errors, ...r.warnings]) io.info(`  ${p.kind}: ${p.message}`)
  }
  return { results, missing }
}

export const insightsCommands: CliCommand[] = [
  {
    words: ['runs', 'create'],
    summary: 'Register a CI or agent run (idempotent with --id)',
    usage: '--commit SHA --branch B [--id ID] [--tree SHA] [--attempt N] [--variant os=linux,node=20] [--pipeline P] [--pr N] [--started-at TS] [--sandbox SBX] [--json]',
    options: { ...json, ...runFlags, id: { type: 'string' } },
    async run({ values: v, api, io }) {
      const run = await (await api()).createRun(runInput(v, str(v, 'id')))
      io.print(run, () => run.id)
      return 0
    },
  },
  {
    words: ['runs', 'finish'],
    summary: 'Mark a run finished: analyse it and decide remediations',
    usage: '<run-id> [--json]',
    options: json,
    async run({ positionals, api, io }) {
      const id = positionals[0]
      if (!id) throw new Error('missing run id')
      const r = await (await api()).finishRun({ id })
      io.print(r, () => `${r.run.id}: ${r.run.outcome}${r.remediations.length ? `\n${r.remediations.map((m) => `  ${m.kind} — ${m.status}: ${m.reason}`).join('\n')}` : ''}`)
      return 0
    },
  },
  {
    words: ['runs', 'ls'],
    summary: 'Runs, newest first',
    usage: '[--branch B] [--commit SHA] [--pr N] [--limit N] [--json]',
    options: { ...json, branch: { type: 'string' }, commit: { type: 'string' }, pr: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (
        await api()
      ).listRuns({ ...(str(v, 'branch') ? { branch: str(v, 'branch') } : {}), ...(str(v, 'commit') ? { commit: str(v, 'commit') } : {}), ...(str(v, 'pr') ? { pr: str(v, 'pr') } : {}), ...limitOf(v) })
      io.print(page, () =>
        table(
          page.items.map((r) => ({ ...r, commit: r.commit.slice(0, 12), tests: r.summary.tests, failed: r.summary.failed, infra: r.infraSuspect ? 'suspect' : '' })),
          ['id', 'branch', 'commit', 'attempt', 'outcome', 'tests', 'failed', 'infra', 'startedAt'],
        ),
      )
      return 0
    },
  },
  {
    words: ['ingest', 'junit'],
    summary: 'Upload JUnit XML reports of a run (creates the run; finishes it unless --keep-open)',
    usage: '<files…> --run ID --commit SHA --branch B [--tree SHA] [--attempt N] [--variant os=…,node=…] [--pipeline P] [--pr N] [--root DIR] [--framework F] [--keep-open] [--json]',
    options: { ...json, ...runFlags, run: { type: 'string' }, root: { type: 'string' }, framework: { type: 'string' }, 'keep-open': { type: 'boolean' } },
    async run({ values: v, positionals, api, io, cwd }) {
      const runId = str(v, 'run')
      if (!runId) throw new Error('--run is required (your CI job id, e.g. $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT)')
      if (positionals.length === 0) throw new Error('no report files given: tidepool ingest junit reports/*.xml --run …')
      const client = await api()
      await client.createRun(runInput(v, runId))
      const { results, missing } = await ingestFiles(client, runId, positionals, v, cwd, io)
      const finished = v['keep-open'] ? undefined : await client.finishRun({ id: runId })
      const problems = [...missing, ...results.flatMap((r) => r.errors)]
      const out = { runId, files: results, missing, ...(finished ? { run: finished.run, remediations: finished.remediations } : {}) }
      io.print(out, () => {
        const tests = results.reduce((a, r) => a + r.tests, 0)
        const failed = results.reduce((a, r) => a + r.failures, 0)
        const lines = [`run ${runId}: ${results.length} report(s), ${tests} tests, ${failed} failed${problems.length ? `, ${problems.length} report(s) missing or unreadable (incomplete)` : ''}`]
        if (finished) {
          lines.push(`outcome: ${finished.run.outcome}${finished.run.infraSuspect ? ` (infrastructure suspect: ${finished.run.infraReason})` : ''}`)
          for (const m of finished.remediations) lines.push(`  ${m.kind} — ${m.status}: ${m.reason}`)
        }
        return lines.join('\n')
      })
      return problems.length ? dataError : 0
    },
  },
  {
    words: ['triage'],
    summary: 'PR-ready Markdown summary of a run: what failed, likely cause, evidence, suggested action',
    usage: '--run ID [--out FILE] [--deterministic] [--json]',
    options: { ...json, run: { type: 'string' }, out: { type: 'string' }, deterministic: { type: 'boolean' } },
    async run({ values: v, api, io, cwd }) {
      const id = str(v, 'run')
      if (!id) throw new Error('--run is required')
      const t = await (await api()).getRunTriage({ id, ...(v.deterministic ? { llm: 'false' as const } : {}) })
      const out = str(v, 'out')
      if (out) {
        writeFileSync(resolve(cwd, out), t.markdown.endsWith('\n') ? t.markdown : `${t.markdown}\n`)
        io.info(`wrote ${out} (${t.verdict}, ${t.failures.length} failure(s), ${t.markdownSource})`)
      }
      if (io.json) io.print(t, () => '')
      else if (!out) io.out(t.markdown)
      return 0
    },
  },
  {
    words: ['insights', 'tests'],
    summary: 'Tests with flakiness status, Bayesian score and interval',
    usage: '[--status flaky|broken|healthy] [--q TEXT] [--limit N] [--json]',
    options: { ...json, status: { type: 'string' }, q: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (await api()).listInsightTests({ ...(str(v, 'status') ? { status: str(v, 'status') as never } : {}), ...(str(v, 'q') ? { q: str(v, 'q') } : {}), ...limitOf(v) })
      io.print(page, () =>
        table(
          page.items.map((t) => ({
            test: `${t.suite} › ${t.name}`.slice(0, 70),
            status: t.quarantine ? `${t.status} (quarantined)` : t.status,
            tier: t.tier,
            score: pct(t.score),
            interval: `${pct(t.interval[0])}–${pct(t.interval[1])}`,
            n: t.n,
            evidence: t.evidence.join(',') || '—',
            id: t.testId,
          })),
          ['test', 'status', 'tier', 'score', 'interval', 'n', 'evidence', 'id'],
        ),
      )
      return 0
    },
  },
  {
    words: ['insights', 'history'],
    summary: "One test's results, newest first",
    usage: '<test-id> [--branch B] [--limit N] [--json]',
    options: { ...json, branch: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, positionals, api, io }) {
      const testId = positionals[0]
      if (!testId) throw new Error('missing test id (see tidepool insights tests)')
      const h = await (await api()).getTestHistory({ testId, ...(str(v, 'branch') ? { branch: str(v, 'branch') } : {}), ...limitOf(v) })
      io.print(h, () =>
        [
          `${h.test.suite} › ${h.test.name}: ${h.test.status} (${pct(h.test.score)} over ${h.test.n} attempts)`,
          table(
            h.items.map((e) => ({ ...e, commit: e.commit.slice(0, 12), attempts: `${e.failedAttempts}/${e.attempts} failed`, ms: e.durationMs, infra: e.infraSuspect ? 'suspect' : '' })),
            ['at', 'runId', 'branch', 'commit', 'outcome', 'attempts', 'ms', 'infra'],
          ),
        ].join('\n'),
      )
      return 0
    },
  },
  {
    words: ['insights', 'anomalies'],
    summary: 'Duration outliers and sustained regressions (with the commit they started at)',
    usage: '[--kind test|suite|queue|setup] [--type outlier|regression] [--limit N] [--json]',
    options: { ...json, kind: { type: 'string' }, type: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (await api()).listAnomalies({ ...(str(v, 'kind') ? { kind: str(v, 'kind') as never } : {}), ...(str(v, 'type') ? { type: str(v, 'type') as never } : {}), ...limitOf(v) })
      io.print(page, () =>
        table(
          page.items.map((a) => ({
            ...a,
            label: a.label.slice(0, 60),
            ratio: `${a.ratio.toFixed(2)}×`,
            since: a.changePoint?.commit.slice(0, 12) ?? '',
            baselineMs: Math.round(a.baselineMs),
            valueMs: Math.round(a.valueMs),
          })),
          ['type', 'kind', 'label', 'ratio', 'baselineMs', 'valueMs', 'since', 'runId'],
        ),
      )
      return 0
    },
  },
  {
    words: ['insights', 'signatures'],
    summary: 'Failures grouped by normalised error signature',
    usage: '[--q TEXT] [--limit N] [--json]',
    options: { ...json, q: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (await api()).listSignatures({ ...(str(v, 'q') ? { q: str(v, 'q') } : {}), ...limitOf(v) })
      io.print(page, () =>
        table(
          page.items.map((s) => ({ ...s, text: s.text.slice(0, 70), infra: s.infraLike ? 'yes' : '' })),
          ['signature', 'count', 'tests', 'runs', 'infra', 'text', 'lastSeen'],
        ),
      )
      return 0
    },
  },
  {
    words: ['insights', 'clusters'],
    summary: 'Tests that fail together (one likely cause)',
    usage: '[--json]',
    options: json,
    async run({ api, io }) {
      const list = await (await api()).listClusters({})
      io.print(list, () =>
        table(
          list.items.map((c) => ({
            ...c,
            tests: c.tests
              .map((t) => t.name)
              .join('; ')
              .slice(0, 90),
          })),
          ['id', 'coFailures', 'jaccard', 'tests'],
        ),
      )
      return 0
    },
  },
  {
    words: ['insights', 'kpis'],
    summary: 'Feedback-loop KPIs over a window, with the suggest/auto A/B comparison',
    usage: '[--window 7d] [--json]',
    options: { ...json, window: { type: 'string' } },
    async run({ values: v, api, io }) {
      const k = await (await api()).getKpis({ ...(str(v, 'window') ? { window: str(v, 'window') } : {}) })
      const p = (x: number | null) => (x === null ? '-' : pct(x))
      io.print(k, () =>
        [
          `window ${k.window} (${k.from} → ${k.to}), ${k.runs} runs`,
          `first-attempt green   ${p(k.firstAttemptGreenRate)}`,
          `rerun rate            ${p(k.rerunRate)}`,
          `flaky failure share   ${p(k.flakyFailureShare)}`,
          `minutes wasted        ${k.minutesWasted}`,
          `MTTR of flaky tests   ${k.mttrFlakyHours === null ? '-' : `${k.mttrFlakyHours} h`}`,
          `queue time p50/p95    ${k.queueMs.p50 ?? '-'} / ${k.queueMs.p95 ?? '-'} ms`,
          `PR to merge p50       ${k.prToMergeHours.p50 === null ? '-' : `${k.prToMergeHours.p50} h`}`,
          `auto remediations     ${k.remediation.auto} applied, ${p(k.remediation.autoAcceptedRate)} kept; suggestions accepted ${p(k.remediation.suggestionsAcceptedRate)}`,
          `cost per PR           ${k.cost.perPrUsd === null ? `- (${k.cost.note ?? 'no data'})` : `$${k.cost.perPrUsd}`}`,
          `A/B suggest vs auto   runs ${k.ab.suggest.runs}/${k.ab.auto.runs}, red ${k.ab.suggest.red}/${k.ab.auto.red}, wasted min ${k.ab.suggest.minutesWasted}/${k.ab.auto.minutesWasted}`,
          `tests                 ${k.tests.flaky} flaky, ${k.tests.broken} broken, ${k.tests.healthy} healthy, ${k.tests.quarantined} quarantined`,
        ].join('\n'),
      )
      return 0
    },
  },
  {
    words: ['insights', 'remediations'],
    summary: 'Recommended and applied remediations with their gate decisions',
    usage: '[--status S] [--kind K] [--run ID] [--limit N] [--json]',
    options: { ...json, status: { type: 'string' }, kind: { type: 'string' }, run: { type: 'string' }, limit: { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (
        await api()
      ).listRemediations({
        ...(str(v, 'status') ? { status: str(v, 'status') as never } : {}),
        ...(str(v, 'kind') ? { kind: str(v, 'kind') as never } : {}),
        ...(str(v, 'run') ? { runId: str(v, 'run') } : {}),
        ...limitOf(v),
      })
      io.print(page, () =>
        table(
          page.items.map((m) => ({ ...m, blocked: m.gates.find((g) => !g.pass)?.gate ?? '', reason: m.reason.slice(0, 60) })),
          ['id', 'kind', 'status', 'mode', 'blocked', 'runId', 'reason'],
        ),
      )
      return 0
    },
  },
  remediationDecision('apply', 'Apply a suggested remediation (safety, blast-radius, dry-run and policy gates still apply)', 'applyRemediation'),
  remediationDecision('reject', 'Reject a suggestion, or revert an automatic remediation', 'rejectRemediation'),
  {
    words: ['insights', 'settings'],
    summary: 'Show, or set, the remediation mode (suggest | auto | ab) and defaults of your project',
    usage: '[--mode suggest|auto|ab] [--ab-share 0.5] [--default-branch B] [--owner TEAM] [--json]',
    options: { ...json, mode: { type: 'string' }, 'ab-share': { type: 'string' }, 'default-branch': { type: 'string' }, owner: { type: 'string' } },
    async run({ values: v, api, io }) {
      const client = await api()
      const change = {
        ...(str(v, 'mode') ? { mode: str(v, 'mode') as never } : {}),
        ...(str(v, 'ab-share') ? { abAutoShare: Number(str(v, 'ab-share')) } : {}),
        ...(str(v, 'default-branch') ? { defaultBranch: str(v, 'default-branch') } : {}),
        ...(str(v, 'owner') ? { quarantineOwner: str(v, 'owner') } : {}),
      }
      const s = Object.keys(change).length ? await client.putInsightsSettings(change) : await client.getInsightsSettings({})
      io.print(
        s,
        () =>
          `mode ${s.mode}${s.mode === 'ab' ? ` (auto share ${s.abAutoShare})` : ''}; default branch ${s.defaultBranch ?? '(configured)'}; auto actions ${s.allowedActions.join(', ')}${s.quarantineOwner ? `; quarantine owner ${s.quarantineOwner}` : ''}`,
      )
      return 0
    },
  },
  {
    words: ['insights', 'analyze'],
    summary: 'Re-analyse the project history now',
    usage: '[--json]',
    options: json,
    async run({ api, io }) {
      const r = await (await api()).analyzeInsights({})
      io.print(r, () => `analysed ${r.tests} tests, ${r.runs} runs, ${r.results} results in ${r.ms} ms`)
      return 0
    },
  },
]

/** `tidepool insights apply|reject <remediation-id> [--note TEXT]`: one decision on one remediation. */
function remediationDecision(word: string, summary: string, op: 'applyRemediation' | 'rejectRemediation'): CliCommand {
  return {
    words: ['insights', word],
    summary,
    usage: '<remediation-id> [--note TEXT] [--json]',
    options: { ...json, note: { type: 'string' } },
    async run({ values: v, positionals, api, io }) {
      const id = positionals[0]
      if (!id) throw new Error('missing remediation id (see tidepool insights remediations)')
      const note = str(v, 'note')
      const r = await (await api())[op]({ id, ...(note ? { note } : {}) })
      io.print(r, () => `${r.id}: ${r.status}`)
      return 0
    },
  }
}
