/** @module contract/insights — runs, test results and the feedback loop's analyses. */
import { z } from 'zod'
import { boundedJson, boundedRecord, Label, limits, PageInput, Timestamp, page } from './common.js'
import type { Operation } from './operation.js'

// ---------------------------------------------------------------- runs

export const RunId = z
  .string()
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'run ids are 1–128 letters, digits, and . _ : - (start with a letter or digit)')
  .describe('Run id: yours (e.g. the CI job id) or generated (run_…).')

export const Variant = boundedRecord(
  z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'variant keys are letters, digits, _ . -'),
  z.string().max(128),
  16,
  'variant keys',
).describe('What the run ran on, e.g. {"os":"linux","node":"20"}. Flakiness is judged per variant.')

/** Durations: up to 31 days, longer than any CI job runs. */
const Millis = z
  .number()
  .min(0)
  .max(31 * 86_400_000)
/** Peak use in percent of a limit: above 100 when a runner overcommits (CPU over its quota), never a thousand times over. */
const Pct = z.number().min(0).max(100_000)
/** Named facts an infra object may carry, the known ones included. */
const maxInfraFacts = 64

export const InfraMetrics = z
  .object({
    queueMs: Millis.optional().describe('Time the job waited for a runner.'),
    setupMs: Millis.optional().describe('Time from runner start to the first test (checkout, install, services).'),
    durationMs: Millis.optional().describe('Wall time of the test step.'),
    cpuPct: Pct.optional().describe('Peak CPU use of the runner or sandbox, percent of its limit.'),
    memoryPct: Pct.optional().describe('Peak memory use, percent of its limit.'),
    oomKills: z.number().int().min(0).max(limits.count).optional().describe('Processes killed for exceeding memory.'),
    diskPct: Pct.optional(),
    cpuSeconds: z.number().min(0).max(1e12).optional().describe("CPU time the run's sandboxes used (joined from their cgroups when the run executed in tidepool sandboxes)."),
    memoryPeakBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Peak memory of the most memory-starved sandbox of the run (joined from its cgroup).'),
    memoryLimitBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe("That sandbox's memory limit."),
    pidsLimitHits: z.number().int().min(0).max(limits.count).optional().describe('Forks refused at the pids limit (joined from the sandboxes’ cgroups: pids.events max).'),
    figuresFrom: z.string().max(1024).optional().describe('The sandboxes whose cgroup figures were joined (" (live)" when read before the sandbox ended).'),
    sandboxId: z.string().max(64).optional().describe('The tidepool sandbox the run used (enables resize/reset remediation).'),
    runner: z.string().max(256).optional(),
    costUsd: z.number().min(0).max(1e9).optional().describe('Metered cost of the run, where known.'),
  })
  .catchall(z.union([z.number().min(-Number.MAX_VALUE).max(Number.MAX_VALUE), z.string().max(1024), z.boolean()]))
  .refine((m) => Object.keys(m).length <= maxInfraFacts, `at most ${maxInfraFacts} infra facts`)
  .refine((m) => Object.keys(m).every((k) => k.length <= 64), 'infra fact names are at most 64 characters')
  .describe('Infrastructure facts about the run or a moment in it (seed schema infra_metrics).')
export type InfraMetrics = z.infer<typeof InfraMetrics>

export const CreateRunInput = z
  .object({
    id: RunId.optional().describe('Your run id; creating the same run again with the same fields returns it (idempotent).'),
    commit: z.string().min(1).max(128).describe('Commit SHA the run tested.'),
    tree: z.string().min(1).max(128).optional().describe('Tree SHA or input hash: the code key flakiness is judged on (default: the commit).'),
    branch: z.string().min(1).max(256),
    attempt: z.number().int().min(1).max(1000).default(1).describe('1 for the first run of this commit and pipeline, 2+ for CI re-runs.'),
    variant: Variant.default({}),
    startedAt: Timestamp.optional().describe('Default: now.'),
    pipeline: z.string().min(1).max(256).optional().describe('Pipeline or workflow name.'),
    pr: z.string().min(1).max(64).optional().describe('Pull/merge request number or id.'),
    infra: InfraMetrics.optional(),
  })
  .strict()
  .meta({ id: 'CreateRunInput' })
export type CreateRunInput = z.input<typeof CreateRunInput>

export const RunSummary = z.object({
  tests: z.number().int().describe('Distinct tests reported.'),
  failed: z.number().int().describe('Tests whose final outcome is a failure.'),
  flaky: z.number().int().describe('Tests that failed and passed on retry inside the run.'),
  skipped: z.number().int(),
  files: z.number().int().describe('JUnit files ingested.'),
  fileErrors: z.number().int().describe('Files that could not be read completely (missing data, never a pass).'),
})

export const Run = z
  .object({
    id: RunId,
    project: z.string(),
    commit: z.string(),
    tree: z.string().optional(),
    codeKey: z.string().describe('tree, else commit.'),
    branch: z.string(),
    defaultBranch: z.boolean().describe('The branch is the project’s default branch.'),
    attempt: z.number().int(),
    variant: z.record(z.string(), z.string()),
    startedAt: Timestamp,
    finishedAt: Timestamp.optional(),
    pipeline: z.string().optional(),
    pr: z.string().optional(),
    infra: InfraMetrics.optional(),
    arm: z.enum(['suggest', 'auto']).optional().describe('Remediation arm this run was assigned to (A/B).'),
    status: z.enum(['running', 'finished']),
    outcome: z.enum(['green', 'red', 'incomplete', 'empty']).describe('red: a test failed; incomplete: a report was missing or unreadable; empty: no results yet.'),
    summary: RunSummary,
    infraSuspect: z.boolean().describe('Suspected infrastructure outage: excluded from test scores.'),
    infraReason: z.string().optional(),
  })
  .meta({ id: 'Run' })
export type Run = z.infer<typeof Run>

export const RunRef = z.object({ id: RunId }).strict()
export const ListRunsInput = z
  .object({
    branch: z.string().max(256).optional(),
    commit: z.string().max(128).optional(),
    pr: z.string().max(64).optional(),
    ...PageInput,
  })
  .strict()
export const RunPage = page(Run).meta({ id: 'RunPage' })

export const JunitFramework = z
  .enum(['surefire', 'pytest', 'jest', 'vitest', 'mocha', 'playwright', 'gotestsum', 'dotnet', 'junit'])
  .describe('Producer of a JUnit report (detected when not given; part of a test’s identity).')

export const IngestJunitInput = z
  .object({
    id: RunId,
    body: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'raw bytes').describe('The JUnit XML file (gzip accepted).'),
    name: z.string().min(1).max(512).optional().describe('File name; re-uploading a name replaces that file’s results. Default: content hash.'),
    framework: JunitFramework.optional(),
    root: z.string().max(1024).optional().describe('Workspace path stripped from absolute file paths (e.g. /home/runner/work/app/app).'),
  })
  .strict()

export const FileProblem = z.object({
  file: z.string(),
  kind: z.enum(['unreadable', 'not_junit', 'truncated', 'malformed', 'too_large', 'empty', 'collision', 'missing']),
  message: z.string(),
  line: z.number().int().optional(),
})
export type FileProblem = z.infer<typeof FileProblem>

export const JunitIngestResult = z
  .object({
    runId: RunId,
    file: z.string(),
    framework: JunitFramework,
    tests: z.number().int().describe('Test cases read from this file.'),
    failures: z.number().int().describe('Of them, failed (final outcome).'),
    flaky: z.number().int().describe('Of them, passed on an in-run retry.'),
    skipped: z.number().int(),
    duplicate: z.boolean().describe('Same bytes were already ingested for this run: nothing changed.'),
    replaced: z.boolean().describe('A file with this name was ingested before and has been replaced.'),
    errors: z.array(FileProblem).describe('Problems that lost data (truncated, malformed…).'),
    warnings: z.array(FileProblem).describe('Problems that did not lose data (identity collisions, empty suites…).'),
  })
  .meta({ id: 'JunitIngestResult' })
export type JunitIngestResult = z.infer<typeof JunitIngestResult>

/** Seed event schema (snake_case as published), one per line of a run's event stream. */
export const RunEvent = z
  .object({
    kind: z.string().min(1).max(64).default('event').describe('e.g. run_started, run_finished, test_failed, infra_sample, pr_opened, pr_merged, snapshot_taken.'),
    timestamp: Timestamp.optional(),
    environment_id: z.string().max(128).optional(),
    test_suite: z.string().max(1024).optional(),
    test_id: z.string().max(2048).optional().describe('tidepool test id (t_…) or the test’s name.'),
    infra_metrics: InfraMetrics.optional(),
    logs_url: z.string().max(2048).optional(),
    snapshot_url: z.string().max(2048).optional(),
    error_signature: z.string().max(256).optional(),
    actor: z.string().max(256).optional(),
    pr: z.string().max(64).optional(),
    data: boundedRecord(z.string().max(limits.name), boundedJson(64 * 1024), 64, 'data keys')
      .optional()
      .describe('Free-form facts: at most 64 keys, each value JSON of at most 64 Ki characters.'),
  })
  .strict()
  .meta({ id: 'RunEvent' })
export type RunEvent = z.input<typeof RunEvent>

export const IngestEventsInput = z.object({ id: RunId, events: z.array(RunEvent).min(1).max(10_000) }).strict()
export const IngestEventsResult = z.object({ runId: RunId, accepted: z.number().int() })

export const FinishRunInput = z
  .object({
    id: RunId,
    finishedAt: Timestamp.optional(),
    infra: InfraMetrics.optional().describe('Merged into the run’s infra facts (e.g. durationMs, peaks).'),
  })
  .strict()

// ---------------------------------------------------------------- tests and history

export const TestStatus = z
  .enum(['flaky', 'broken', 'healthy'])
  .describe('flaky: passed and failed at the same code key and variant, or failures that come and go across default-branch commits; broken: failing consecutively on the default branch.')
export const TestTier = z
  .enum(['confirmed', 'likely', 'suspect', 'recovered', 'none'])
  .describe(
    'confirmed: flaky evidence twice, an in-run retry flip, two kinds of evidence or more flip episodes across commits than needed; likely: once (or just enough flip episodes); suspect: failures without flaky evidence; recovered: was flaky, clean since.',
  )

export const FlakyEvidenceKind = z.enum(['same_tree_retry', 'in_run_retry', 'cross_commit_flips'])

export const Quarantine = z.object({ owner: z.string(), expiresAt: Timestamp, reason: z.string(), remediationId: z.string().optional() })

export const InsightTest = z
  .object({
    testId: z.string().describe('Stable id: hash of framework, normalised file and suite, and name.'),
    framework: z.string(),
    suite: z.string(),
    name: z.string(),
    file: z.string().optional(),
    status: TestStatus,
    tier: TestTier,
    score: z.number().describe('Posterior mean failure rate per attempt (Beta(1,1) prior), infra-suspect runs excluded.'),
    interval: z.tuple([z.number(), z.number()]).describe('Equal-tailed credible interval of the failure rate.'),
    n: z.number().int().describe('Attempts the score is based on.'),
    failures: z.number().int().describe('Failed attempts among them.'),
    flakyEvidence: z.number().int().describe('Code key + variant groups with both a pass and a failure.'),
    evidence: z
      .array(FlakyEvidenceKind)
      .describe(
        'What made the flaky call: same_tree_retry (a CI re-run of one tree passed and failed), in_run_retry (a retry inside a run passed), cross_commit_flips (failures that came and went across default-branch commits, no break or fix).',
      ),
    flips: z.number().int().describe('Pass↔fail transitions across default-branch commits outside breaks (persistent failure from one commit on) and fixes.'),
    excludedRuns: z.number().int().describe('Runs left out as infrastructure suspects.'),
    failStreak: z.number().int().describe('Consecutive failing runs on the default branch, newest first.'),
    since: Timestamp.optional().describe('When the current status began.'),
    lastSeen: Timestamp,
    cluster: z.string().optional().describe('Co-failing cluster id: tests that fail together, one likely cause.'),
    quarantine: Quarantine.optional(),
  })
  .meta({ id: 'InsightTest' })
export type InsightTest = z.infer<typeof InsightTest>

export const ListTestsInput = z
  .object({
    status: TestStatus.optional(),
    q: z.string().max(256).optional().describe('Substring of the test’s suite, name or file.'),
    ...PageInput,
  })
  .strict()
export const InsightTestPage = page(InsightTest).meta({ id: 'InsightTestPage' })

export const HistoryEntry = z.object({
  runId: RunId,
  at: Timestamp,
  commit: z.string(),
  codeKey: z.string(),
  branch: z.string(),
  variant: z.record(z.string(), z.string()),
  attempt: z.number().int(),
  outcome: z.enum(['pass', 'fail', 'skip']),
  attempts: z.number().int().describe('Attempts inside the run (retries count).'),
  failedAttempts: z.number().int(),
  durationMs: z.number().optional(),
  signature: z.string().optional(),
  message: z.string().optional(),
  infraSuspect: z.boolean(),
})
export const TestHistoryInput = z
  .object({
    testId: z.string().min(3).max(64),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    branch: z.string().max(256).optional(),
  })
  .strict()
export const TestHistory = z.object({ test: InsightTest, items: z.array(HistoryEntry).describe('Newest first, one per run.') }).meta({ id: 'TestHistory' })
export type TestHistory = z.infer<typeof TestHistory>

// ---------------------------------------------------------------- anomalies, signatures, clusters

export const AnomalyKind = z.enum(['test', 'suite', 'queue', 'setup'])
export const Anomaly = z
  .object({
    id: z.string(),
    kind: AnomalyKind.describe('What the duration belongs to: a test, a suite, or a run’s queue/setup time.'),
    subject: z.string().describe('Test id, suite name, or pipeline.'),
    label: z.string().describe('Human name of the subject.'),
    type: z.enum(['outlier', 'regression']).describe('outlier: one point far from the robust baseline; regression: a sustained shift (Mann–Whitney).'),
    at: Timestamp,
    runId: z.string(),
    commit: z.string(),
    valueMs: z.number(),
    baselineMs: z.number().describe('Median before.'),
    madMs: z.number().describe('Median absolute deviation before.'),
    ratio: z.number().describe('value (or median after the change point) / baseline.'),
    pValue: z.number().optional().describe('Two-sided Mann–Whitney p-value (regressions).'),
    changePoint: z.object({ runId: z.string(), commit: z.string(), at: Timestamp }).optional().describe('First run after the shift: the commit it is attributed to.'),
  })
  .meta({ id: 'Anomaly' })
export type Anomaly = z.infer<typeof Anomaly>
export const ListAnomaliesInput = z
  .object({
    kind: AnomalyKind.optional(),
    type: z.enum(['outlier', 'regression']).optional(),
    subject: z.string().max(256).optional(),
    ...PageInput,
  })
  .strict()
export const AnomalyPage = page(Anomaly).meta({ id: 'AnomalyPage' })

export const ErrorSignature = z
  .object({
    signature: z.string().describe('sig_… hash of the normalised text.'),
    text: z.string().describe('Normalised message and top frame (paths, ids, numbers… replaced by placeholders).'),
    example: z.string().describe('One original message.'),
    infraLike: z.boolean().describe('Looks like infrastructure (network, resources, timeouts).'),
    count: z.number().int().describe('Failed attempts with this signature.'),
    tests: z.number().int(),
    runs: z.number().int(),
    firstSeen: Timestamp,
    lastSeen: Timestamp,
  })
  .meta({ id: 'ErrorSignature' })
export type ErrorSignature = z.infer<typeof ErrorSignature>
export const ListSignaturesInput = z.object({ q: z.string().max(256).optional(), ...PageInput }).strict()
export const SignaturePage = page(ErrorSignature).meta({ id: 'SignaturePage' })

export const Cluster = z
  .object({
    id: z.string(),
    tests: z.array(z.object({ testId: z.string(), name: z.string() })),
    coFailures: z.number().int().describe('Runs in which they failed together.'),
    jaccard: z.number().describe('Smallest pairwise overlap of their failing runs.'),
    signature: z.string().optional().describe('Most common signature of their joint failures.'),
  })
  .meta({ id: 'Cluster' })
export type Cluster = z.infer<typeof Cluster>
export const ClusterList = z.object({ items: z.array(Cluster) })

// ---------------------------------------------------------------- triage (root-cause ranking)

export const RootCauseClass = z.enum(['infrastructure', 'failing_on_default_branch', 'known_flaky', 'this_change'])
export const Evidence = z.object({ kind: z.string(), detail: z.string(), value: z.unknown().optional() })
export const TriageFailure = z.object({
  testId: z.string(),
  suite: z.string(),
  name: z.string(),
  file: z.string().optional(),
  outcome: z.enum(['fail', 'flaky']).describe('flaky: failed, then passed on an in-run retry.'),
  class: RootCauseClass,
  confidence: z.number().describe('0–1.'),
  evidence: z.array(Evidence),
  candidates: z.array(z.object({ class: RootCauseClass, confidence: z.number() })).describe('Every class considered, best first.'),
  signature: z.string().optional(),
  message: z.string().optional(),
  cluster: z.string().optional(),
  logsUrl: z.string().optional(),
  snapshotUrl: z.string().optional(),
})
export type TriageFailure = z.infer<typeof TriageFailure>

export const RemediationKind = z.enum(['rerun', 'quarantine', 'resize', 'reset_state', 'reseed', 'snapshot_on_failure'])
export const GateResult = z.object({
  gate: z.enum(['allowlist', 'safety', 'rate', 'budget', 'blast_radius', 'dry_run', 'policy', 'mode']),
  pass: z.boolean(),
  reason: z.string(),
})
export const Remediation = z
  .object({
    id: z.string(),
    project: z.string(),
    runId: z.string().optional(),
    testId: z.string().optional(),
    kind: RemediationKind,
    params: z.record(z.string(), z.unknown()),
    reason: z.string().describe('Why this is recommended.'),
    evidence: z.array(Evidence),
    mode: z.enum(['suggest', 'auto']).describe('Mode in force when it was decided.'),
    arm: z.enum(['suggest', 'auto']).optional(),
    status: z.enum(['suggested', 'applied', 'refused', 'failed', 'rejected', 'reverted']),
    gates: z.array(GateResult),
    createdAt: Timestamp,
    decidedAt: Timestamp.optional(),
    decidedBy: z.string().optional().describe("Who decided: the token id of a person, or 'system:remediation' when tidepool decided on its own."),
    result: z.unknown().optional(),
  })
  .meta({ id: 'Remediation' })
export type Remediation = z.infer<typeof Remediation>

export const Triage = z
  .object({
    run: Run,
    verdict: z.enum(['green', 'infrastructure', 'flaky_only', 'needs_attention', 'incomplete']),
    failures: z.array(TriageFailure).describe('Ordered by confidence.'),
    groups: z.array(z.object({ cause: z.string(), tests: z.array(z.string()) })).describe('Failures reported as one cause (co-failing cluster or shared signature).'),
    anomalies: z.array(Anomaly).describe('Duration regressions attributed to this run’s commit.'),
    remediations: z.array(Remediation),
    problems: z.array(FileProblem).describe('Missing or unreadable reports of the run.'),
    markdown: z.string().describe('PR-ready summary (served as text/markdown when asked).'),
    markdownSource: z.enum(['deterministic', 'llm']),
    llmError: z.string().optional(),
  })
  .meta({ id: 'Triage' })
export type Triage = z.infer<typeof Triage>
export const TriageInput = z
  .object({
    id: RunId,
    llm: z.enum(['true', 'false', '1', '0']).optional().describe('Let the configured LLM rewrite the summary (default: yes when one is configured).'),
  })
  .strict()

// ---------------------------------------------------------------- remediation and settings

export const ListRemediationsInput = z
  .object({
    status: Remediation.shape.status.optional(),
    kind: RemediationKind.optional(),
    runId: RunId.optional(),
    ...PageInput,
  })
  .strict()
export const RemediationPage = page(Remediation).meta({ id: 'RemediationPage' })
export const RerunRequest = z
  .object({
    remediationId: z.string().describe('The applied rerun remediation this request is (reject it to withdraw the request).'),
    runId: RunId.describe('The red run to re-run.'),
    commit: z.string(),
    branch: z.string(),
    pipeline: z.string().optional(),
    pr: z.string().optional(),
    attempt: z.number().int().describe('The attempt number the re-run should report (createRun attempt).'),
    tests: z.array(z.string()).describe('Test ids that failed (a CI may re-run only these).'),
    requestedAt: Timestamp,
    requestedBy: z.string().describe('system:remediation, or the token that applied it.'),
  })
  .meta({ id: 'RerunRequest' })
export type RerunRequest = z.infer<typeof RerunRequest>
export const ListRerunRequestsInput = z.object({ ...PageInput }).strict()
export const RerunRequestPage = page(RerunRequest).meta({ id: 'RerunRequestPage' })
export const DecideRemediationInput = z.object({ id: z.string().min(1).max(64), note: z.string().max(1024).optional() }).strict()

export const InsightsSettings = z
  .object({
    mode: z.enum(['suggest', 'auto', 'ab']).describe('suggest: recommend only; auto: apply what passes every gate; ab: assign each run to an arm.'),
    abAutoShare: z.number().min(0).max(1).describe('Share of runs in the auto arm under ab.'),
    defaultBranch: z.string().optional().describe('Overrides the configured default branches.'),
    allowedActions: z.array(RemediationKind).describe('Actions that may ever be applied automatically.'),
    quarantineOwner: z.string().optional().describe('Owner given to automatic quarantines.'),
    updatedAt: Timestamp.optional(),
  })
  .meta({ id: 'InsightsSettings' })
export type InsightsSettings = z.infer<typeof InsightsSettings>
export const PutInsightsSettingsInput = z
  .object({
    mode: InsightsSettings.shape.mode.optional(),
    abAutoShare: z.number().min(0).max(1).optional(),
    defaultBranch: Label.nullable().optional(),
    allowedActions: z.array(RemediationKind).max(RemediationKind.options.length).optional(),
    quarantineOwner: Label.nullable().optional(),
  })
  .strict()

// ---------------------------------------------------------------- KPIs and analysis

const Dist = z.object({ n: z.number().int(), p50: z.number().nullable(), p95: z.number().nullable() })
const ArmStats = z.object({
  runs: z.number().int(),
  red: z.number().int(),
  remediations: z.number().int(),
  applied: z.number().int(),
  accepted: z.number().int(),
  greenAfterRerun: z.number().int().describe('Red runs followed by a green attempt of the same commit.'),
  minutesWasted: z.number(),
  medianTimeToGreenMin: z.number().nullable(),
})
export const Kpis = z
  .object({
    window: z.string(),
    from: Timestamp,
    to: Timestamp,
    runs: z.number().int(),
    firstAttemptGreenRate: z.number().nullable().describe('First attempts that passed completely.'),
    rerunRate: z.number().nullable().describe('Runs that were re-runs (attempt > 1) or contained in-run retries.'),
    flakyFailureShare: z.number().nullable().describe('Failed attempts that belong to flaky tests.'),
    minutesWasted: z.number().describe('Test time of red attempts that were re-run, plus failed in-run retry attempts.'),
    mttrFlakyHours: z.number().nullable().describe('Mean time from a test becoming flaky to its recovery.'),
    queueMs: Dist,
    setupMs: Dist,
    prToMergeHours: Dist.describe('From pr_opened to pr_merged events.'),
    remediation: z.object({
      suggested: z.number().int(),
      applied: z.number().int(),
      auto: z.number().int().describe('Applied automatically.'),
      autoAccepted: z.number().int().describe('Automatic ones not reverted.'),
      autoAcceptedRate: z.number().nullable(),
      suggestionsAcceptedRate: z.number().nullable().describe('Suggestions a human applied.'),
      refused: z.number().int(),
    }),
    cost: z.object({
      perPrUsd: z.number().nullable(),
      perPipelineUsd: z.record(z.string(), z.number()),
      note: z.string().optional(),
    }),
    ab: z.object({ suggest: ArmStats, auto: ArmStats }),
    tests: z.object({ flaky: z.number().int(), broken: z.number().int(), healthy: z.number().int(), quarantined: z.number().int() }),
  })
  .meta({ id: 'Kpis' })
export type Kpis = z.infer<typeof Kpis>
export const KpisInput = z
  .object({
    window: z
      .string()
      .max(5)
      .regex(/^\d{1,4}[hdw]$/, 'window looks like 24h, 7d or 4w')
      .default('7d'),
  })
  .strict()

export const AnalyzeInput = z.object({ full: z.boolean().default(true).describe('Re-analyse every test, not only those touched since the last analysis.') }).strict()
export const AnalyzeResult = z.object({ tests: z.number().int(), runs: z.number().int(), results: z.number().int(), ms: z.number() })
export type AnalyzeResult = z.infer<typeof AnalyzeResult>

export const FinishRunResult = z.object({ run: Run, remediations: z.array(Remediation) })
export type FinishRunResult = z.infer<typeof FinishRunResult>

// ---------------------------------------------------------------- operations

export const insightsOps = {
  createRun: { method: 'POST', path: '/v1/runs', summary: 'Register a CI or agent run (idempotent on id)', scope: 'runs:write', input: CreateRunInput, output: Run, status: 201, tags: ['runs'] },
  listRuns: { method: 'GET', path: '/v1/runs', summary: 'Runs, newest first', scope: 'insights:read', input: ListRunsInput, output: RunPage, tags: ['runs'] },
  getRun: { method: 'GET', path: '/v1/runs/{id}', summary: 'One run with its summary', scope: 'insights:read', input: RunRef, output: Run, tags: ['runs'] },
  ingestJunit: {
    method: 'POST',
    path: '/v1/runs/{id}/junit',
    summary: 'Upload one JUnit XML report (gzip accepted; same bytes again change nothing)',
    scope: 'runs:write',
    input: IngestJunitInput,
    output: JunitIngestResult,
    rawBody: 'body',
    rawContentType: 'application/xml',
    tags: ['runs'],
  },
  ingestRunEvents: {
    method: 'POST',
    path: '/v1/runs/{id}/events',
    summary: 'Append seed-schema events (infra metrics, logs, snapshots, PR events) to a run',
    scope: 'runs:write',
    input: IngestEventsInput,
    output: IngestEventsResult,
    maxBodyBytes: 32 * 1024 * 1024,
    tags: ['runs'],
  },
  finishRun: {
    method: 'POST',
    path: '/v1/runs/{id}/finish',
    summary: 'Mark a run finished: analyse it and decide remediations',
    scope: 'runs:write',
    input: FinishRunInput,
    output: FinishRunResult,
    tags: ['runs'],
  },
  listInsightTests: {
    method: 'GET',
    path: '/v1/insights/tests',
    summary: 'Tests with flakiness status, score and interval',
    scope: 'insights:read',
    input: ListTestsInput,
    output: InsightTestPage,
    mcp: true,
    tags: ['insights'],
  },
  getTestHistory: {
    method: 'GET',
    path: '/v1/insights/tests/{testId}/history',
    summary: 'One test’s results, newest first',
    scope: 'insights:read',
    input: TestHistoryInput,
    output: TestHistory,
    tags: ['insights'],
  },
  getRunTriage: {
    method: 'GET',
    path: '/v1/insights/runs/{id}/triage',
    summary: 'Root cause per failing test, evidence and suggested actions (JSON or text/markdown)',
    scope: 'insights:read',
    input: TriageInput,
    output: Triage,
    markdown: true,
    mcp: true,
    tags: ['insights'],
  },
  listAnomalies: {
    method: 'GET',
    path: '/v1/insights/anomalies',
    summary: 'Duration outliers and sustained regressions',
    scope: 'insights:read',
    input: ListAnomaliesInput,
    output: AnomalyPage,
    tags: ['insights'],
  },
  listSignatures: {
    method: 'GET',
    path: '/v1/insights/signatures',
    summary: 'Failures grouped by normalised error signature',
    scope: 'insights:read',
    input: ListSignaturesInput,
    output: SignaturePage,
    tags: ['insights'],
  },
  listClusters: {
    method: 'GET',
    path: '/v1/insights/clusters',
    summary: 'Tests that fail together (one likely cause)',
    scope: 'insights:read',
    input: z.object({}).strict(),
    output: ClusterList,
    tags: ['insights'],
  },
  getKpis: {
    method: 'GET',
    path: '/v1/insights/kpis',
    summary: 'Feedback-loop KPIs over a window, with the suggest/auto A/B comparison',
    scope: 'insights:read',
    input: KpisInput,
    output: Kpis,
    tags: ['insights'],
  },
  listRemediations: {
    method: 'GET',
    path: '/v1/insights/remediations',
    summary: 'Recommended and applied remediations with their gate decisions',
    scope: 'insights:read',
    input: ListRemediationsInput,
    output: RemediationPage,
    tags: ['insights'],
  },
  listRerunRequests: {
    method: 'GET',
    path: '/v1/insights/rerun-requests',
    summary: 'Re-runs requested and not yet reported: a run of the same commit and pipeline with the requested attempt (or later) fulfils one',
    scope: 'insights:read',
    input: ListRerunRequestsInput,
    output: RerunRequestPage,
    tags: ['insights'],
  },
  applyRemediation: {
    method: 'POST',
    path: '/v1/insights/remediations/{id}/apply',
    summary: 'Apply a suggested remediation (every gate except mode still applies)',
    scope: 'insights:write',
    input: DecideRemediationInput,
    output: Remediation,
    tags: ['insights'],
  },
  rejectRemediation: {
    method: 'POST',
    path: '/v1/insights/remediations/{id}/reject',
    summary: 'Reject a suggestion, or revert an automatic remediation (counts against acceptance)',
    scope: 'insights:write',
    input: DecideRemediationInput,
    output: Remediation,
    tags: ['insights'],
  },
  getInsightsSettings: {
    method: 'GET',
    path: '/v1/insights/settings',
    summary: 'Remediation mode and defaults of the project',
    scope: 'insights:read',
    input: z.object({}).strict(),
    output: InsightsSettings,
    tags: ['insights'],
  },
  putInsightsSettings: {
    method: 'PUT',
    path: '/v1/insights/settings',
    summary: 'Set the remediation mode (suggest | auto | ab) and defaults',
    scope: 'insights:write',
    input: PutInsightsSettingsInput,
    output: InsightsSettings,
    tags: ['insights'],
  },
  analyzeInsights: {
    method: 'POST',
    path: '/v1/insights/analyze',
    summary: 'Re-analyse the project’s history now',
    scope: 'insights:write',
    input: AnalyzeInput,
    output: AnalyzeResult,
    tags: ['insights'],
  },
} as const satisfies Record<string, Operation>
