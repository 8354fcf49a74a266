/** @module insights/config — configuration keys of the feedback loop (every key has a default). */
import { z } from 'zod'

const RemediationKind = z.enum(['rerun', 'quarantine', 'resize', 'reset_state', 'reseed', 'snapshot_on_failure'])

const Infra = z
  .object({
    failShare: z.number().min(0).max(1).default(0.3).describe('A run where at least this share of tests fail is an infrastructure suspect.'),
    signatureShare: z.number().min(0).max(1).default(0.5).describe('…or where more than this share of failures share one signature (see docs).'),
    minFailures: z.number().int().min(1).default(3).describe('The signature rule needs at least this many failing tests.'),
    minTests: z.number().int().min(1).default(5).describe('The share rule needs at least this many tests in the run.'),
    minSuites: z.number().int().min(1).default(3).describe('A shared non-infra-looking signature must span this many suites (and be new) to count.'),
    cpuPct: z.number().min(0).default(95).describe('Peak CPU at or above this is saturation.'),
    memoryPct: z.number().min(0).default(90).describe('Peak memory at or above this is saturation.'),
  })
  .strict()

const Anomalies = z
  .object({
    minSamples: z.number().int().min(4).default(12).describe('Durations needed before judging a subject.'),
    recent: z.number().int().min(3).default(8).describe('Newest samples compared with the baseline for a sustained regression.'),
    baseline: z.number().int().min(4).default(60).describe('Samples before the recent ones forming the baseline.'),
    outlierZ: z.number().min(1).default(5).describe('Robust z (0.6745·|x−median|/MAD) of a point outlier.'),
    alpha: z.number().min(0).max(1).default(0.001).describe('Mann–Whitney p-value a regression must beat.'),
    minRatio: z.number().min(1).default(1.3).describe('A regression must raise the median by at least this factor…'),
    minAbsMs: z.number().min(0).default(50).describe('…and by at least this many ms (noise floor).'),
    maxOutliersPerSubject: z.number().int().min(0).default(3),
  })
  .strict()

const Remediation = z
  .object({
    mode: z.enum(['suggest', 'auto', 'ab']).default('suggest').describe('Default mode of a project (settable per project).'),
    abAutoShare: z.number().min(0).max(1).default(0.5),
    allowedActions: z.array(RemediationKind).default(['rerun', 'quarantine', 'snapshot_on_failure', 'resize']).describe('Kinds that may be applied automatically at all.'),
    maxAutoPerHour: z.number().int().min(0).default(20).describe('Automatic actions per project per hour.'),
    maxRerunsPerRun: z.number().int().min(0).default(2).describe('Rerun recommendations per run (attempt budget).'),
    rerunBudgetMinutesPerDay: z.number().min(0).default(600).describe('Test minutes automatic reruns may spend per project per day.'),
    maxRerunTests: z.number().int().min(1).default(50).describe('Blast radius: tests a single rerun may cover.'),
    maxQuarantined: z.number().int().min(0).default(25).describe('Blast radius: tests quarantined at once per project.'),
    maxQuarantineShare: z.number().min(0).max(1).default(0.05).describe('…and at most this share of the project’s tests.'),
    quarantineDays: z.number().int().min(1).max(90).default(14).describe('Quarantine expiry.'),
    quarantineMinScore: z.number().min(0).max(1).default(0.02).describe('Quarantine only tests at least this flaky.'),
    resizeMaxFactor: z.number().min(1).default(2),
    resizeMaxMemoryMb: z.number().int().min(16).default(16_384),
    resizeMaxCpu: z.number().min(0.05).default(8),
    resizeRestoreMinutes: z.number().int().min(1).max(10_080).default(120).describe('A resize goes back down when the next run in its sandbox ends, or at the latest this long after it was applied.'),
    requireApproval: z.array(RemediationKind).default(['reset_state', 'reseed']).describe('Kinds the default policy never applies without a human.'),
  })
  .strict()

const Flips = z
  .object({
    maxFlipSpan: z.number().int().min(1).default(3).describe('Longest failure episode (distinct default-branch commits) that counts as a flip; longer ones that end are a break and its fix.'),
    minFlipEpisodes: z.number().int().min(2).default(2).describe('Flip episodes across commits that make a test flaky…'),
    breakRate: z.number().min(0).max(1).default(0.001).describe('…when that many break/fix pairs would be improbable at this rate of breaks per test and commit…'),
    flipImprobability: z.number().min(0).max(1).default(0.05).describe('…below this probability (Poisson tail).'),
  })
  .strict()

const Llm = z
  .object({
    url: z.string().url().optional().describe('OpenAI-compatible base URL (POST {url}/chat/completions); unset: deterministic summaries only.'),
    model: z.string().default('gpt-4o-mini'),
    apiKeyEnv: z.string().default('TIDEPOOL_LLM_API_KEY').describe('Environment variable holding the API key (read by main.ts).'),
    timeoutMs: z.number().int().min(100).default(20_000),
    maxTokens: z.number().int().min(64).default(1200),
  })
  .strict()

export const InsightsConfig = z
  .object({
    defaultBranches: z.array(z.string()).default(['main', 'master']).describe('Branches treated as the default branch.'),
    historyRuns: z.number().int().min(10).default(300).describe('Newest runs of a project the analysis looks at (each test is judged on its results in them).'),
    credibleLevel: z.number().min(0.5).max(0.999).default(0.9).describe('Level of the credible interval of flakiness scores.'),
    brokenAfter: z.number().int().min(2).default(3).describe('Consecutive failing default-branch runs that make a test broken…'),
    brokenImprobability: z.number().min(0).max(1).default(0.001).describe('…when that streak is this improbable under the test’s own flaky rate.'),
    recoverAfterRuns: z.number().int().min(1).default(30).describe('Clean runs after the last failure before a flaky test counts as recovered (at least)…'),
    recoverImprobability: z.number().min(0).max(1).default(0.01).describe('…and enough that such a clean streak is this improbable at the test’s own failure rate.'),
    clusterMinCoFailures: z.number().int().min(2).default(3),
    clusterMinJaccard: z.number().min(0).max(1).default(0.6),
    maxJunitBytes: z
      .number()
      .int()
      .min(1024)
      .default(512 * 1024 * 1024)
      .describe('Largest (decompressed) report accepted.'),
    messageMaxChars: z.number().int().min(64).default(2000).describe('Failure text kept per result.'),
    flips: Flips.prefault({}).describe('Flakiness across commits (see docs/insights.md).'),
    infra: Infra.prefault({}),
    anomalies: Anomalies.prefault({}),
    remediation: Remediation.prefault({}),
    llm: Llm.prefault({}),
  })
  .strict()
export type InsightsConfig = z.infer<typeof InsightsConfig>
