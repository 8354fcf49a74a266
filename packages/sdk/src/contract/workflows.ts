/**
 * @module contract/workflows — YAML workflows over the built-in actions (`tidepool.workflow.yaml`):
 * steps shaped like GitHub Actions', validated whole before anything runs, stored runs, replay, and
 * reports as JSON (deterministic), JUnit XML (for `POST /v1/runs/{id}/junit`) and Markdown (for a PR).
 */
import { z } from 'zod'
import { boundedRecord, limits, PageInput, page, Timestamp } from './common.js'
import type { Operation } from './operation.js'
import { SandboxId } from './sandbox.js'

const tags = ['workflows']

/** Largest workflow file the server reads. */
export const maxWorkflowChars = 256 * 1024

export const WorkflowRunId = z
  .string()
  .max(limits.id)
  .regex(/^wfr_[a-z0-9]{6,40}$/, 'workflow run ids look like wfr_ followed by lowercase letters and digits')
  .describe('Workflow run id, e.g. wfr_k3j9x2m1q8w7p0a4.')

const InputValue = z.union([z.string().max(65_536), z.number().min(-Number.MAX_VALUE).max(Number.MAX_VALUE), z.boolean()])
export const WorkflowInputs = boundedRecord(z.string().min(1).max(64), InputValue, 64, 'inputs').describe(
  "Values of the workflow's inputs (strings are converted to the declared number or boolean type).",
)

export const RunWorkflowInput = z
  .object({
    workflow: z.string().min(1).max(maxWorkflowChars).describe('The workflow file (YAML text).'),
    inputs: WorkflowInputs.default({}),
    sandboxId: SandboxId.optional().describe('The sandbox the steps act in (needed by steps whose action runs in a sandbox).'),
  })
  .strict()
  .meta({ id: 'RunWorkflowInput' })

export const StepStatus = z.enum(['passed', 'failed', 'skipped']).describe('passed: ok; failed: not ok or an error; skipped: its `if` was false.')

export const WorkflowStepResult = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    uses: z.string().describe('The action the step ran.'),
    status: StepStatus,
    onFailure: z.enum(['fail', 'continue', 'snapshot']),
    output: z.unknown().optional().describe("The action's output (keys sorted)."),
    error: z.object({ code: z.string(), message: z.string() }).optional().describe('Why the action could not run or finish (an API error).'),
    snapshotId: z.string().optional().describe('on_failure: snapshot — the snapshot taken of the sandbox when the step failed.'),
  })
  .meta({ id: 'WorkflowStepResult' })
export type WorkflowStepResult = z.infer<typeof WorkflowStepResult>

export const WorkflowTimings = z
  .object({
    durationMs: z.number().describe('The whole run.'),
    steps: z.record(z.string(), z.number()).describe('Per step id: milliseconds its action took (skipped steps absent).'),
  })
  .meta({ id: 'WorkflowTimings' })

export const WorkflowRun = z
  .object({
    id: WorkflowRunId,
    workflow: z.string().describe("The workflow's name."),
    status: z.enum(['running', 'passed', 'failed']).describe('failed: a step with on_failure fail or snapshot failed.'),
    sandboxId: SandboxId.optional(),
    inputs: z.record(z.string(), z.unknown()).describe('The inputs as resolved (defaults filled in, types converted).'),
    steps: z.array(WorkflowStepResult),
    replayOf: WorkflowRunId.optional().describe('The run this one replayed.'),
    createdBy: z.string(),
    createdAt: Timestamp,
    finishedAt: Timestamp.optional(),
    timings: WorkflowTimings.optional(),
  })
  .meta({ id: 'WorkflowRun' })
export type WorkflowRun = z.infer<typeof WorkflowRun>

export const WorkflowRunSummary = WorkflowRun.omit({ steps: true, inputs: true, timings: true }).meta({ id: 'WorkflowRunSummary' })
export const WorkflowRunPage = page(WorkflowRunSummary).meta({ id: 'WorkflowRunPage' })

export const WorkflowRunRef = z.object({ id: WorkflowRunId }).strict()

export const ReportFormat = z.enum(['json', 'junit', 'markdown']).describe('json (deterministic), junit (XML) or markdown.')
export const GetWorkflowReportInput = z
  .object({
    id: WorkflowRunId,
    format: ReportFormat.default('json'),
    timings: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true')
      .describe('json only: add a `timings` field (left out by default, so the same run gives the same bytes).'),
  })
  .strict()

export const WorkflowReport = z
  .object({
    id: WorkflowRunId,
    format: ReportFormat,
    mediaType: z.string().describe('application/json, application/xml or text/markdown.'),
    content: z.string().describe('The report.'),
  })
  .meta({ id: 'WorkflowReport' })
export type WorkflowReport = z.infer<typeof WorkflowReport>

export const workflowsOps = {
  runWorkflow: {
    method: 'POST',
    path: '/v1/workflows/runs',
    summary: 'Validate a YAML workflow (errors carry line and column), run its steps in order and store the run',
    scope: 'sandboxes:read',
    input: RunWorkflowInput,
    output: WorkflowRun,
    status: 201,
    maxBodyBytes: 1024 * 1024,
    mcp: true,
    mcpName: 'workflow_run',
    tags,
  },
  listWorkflowRuns: {
    method: 'GET',
    path: '/v1/workflows/runs',
    summary: 'Workflow runs, newest first',
    scope: 'sandboxes:read',
    input: z.object({ ...PageInput }).strict(),
    output: WorkflowRunPage,
    tags,
  },
  getWorkflowRun: { method: 'GET', path: '/v1/workflows/runs/{id}', summary: 'One workflow run with its steps', scope: 'sandboxes:read', input: WorkflowRunRef, output: WorkflowRun, tags },
  getWorkflowReport: {
    method: 'GET',
    path: '/v1/workflows/runs/{id}/report',
    summary: 'A run as a report: JSON (deterministic), JUnit XML or Markdown',
    scope: 'sandboxes:read',
    input: GetWorkflowReportInput,
    output: WorkflowReport,
    mcp: true,
    mcpName: 'report_get',
    tags,
  },
  replayWorkflowRun: {
    method: 'POST',
    path: '/v1/workflows/runs/{id}/replay',
    summary: 'Run a stored run again: same workflow text, inputs and sandbox, as a new run',
    scope: 'sandboxes:read',
    input: WorkflowRunRef,
    output: WorkflowRun,
    status: 201,
    tags,
  },
} as const satisfies Record<string, Operation>
