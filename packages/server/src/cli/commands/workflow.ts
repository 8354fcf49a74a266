/** @module cli/commands/workflow — `tidepool workflow run|runs|report|replay`: YAML workflows over the actions. */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { errorExitCode, isApiError, type WorkflowRun } from '@tidepool/sdk'
import type { CliCommand, CliIo } from '../command.js'
import { keyValues, table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
const formats = { md: 'markdown', markdown: 'markdown', junit: 'junit', json: 'json' } as const
type Format = (typeof formats)[keyof typeof formats]

function formatOf(v: unknown): Format {
  const f = String(v ?? 'md')
  if (!Object.hasOwn(formats, f)) throw new Error(`--report takes md, junit or json (got ${JSON.stringify(f)})`)
  return formats[f as keyof typeof formats]
}

const one = (positionals: string[], what: string): string => {
  const v = positionals[0]
  if (!v) throw new Error(`missing ${what}`)
  return v
}

/** Prints the run (--json), or its report in the asked format; exit 0 when it passed, 1 when it failed. */
async function show(run: WorkflowRun, v: Record<string, unknown>, io: CliIo, report: (id: string, f: Format) => Promise<string>): Promise<number> {
  if (io.json) io.print(run, () => '')
  else io.out(await report(run.id, formatOf(v.report)))
  return run.status === 'passed' ? 0 : 1
}

export const workflowCommands: CliCommand[] = [
  {
    words: ['workflow', 'run'],
    summary: 'Validate and run a workflow file; prints its report (exit 1 when it failed)',
    usage: '<file.yaml> [--sandbox sbx_…] [--input K=V]… [--report md|junit|json] [--json]',
    options: { ...json, sandbox: { type: 'string' }, input: { type: 'string', multiple: true }, report: { type: 'string' } },
    async run({ positionals, values: v, api, io, cwd }) {
      const file = one(positionals, 'workflow file')
      formatOf(v.report) // a bad --report fails before the run, not after
      const workflow = readFileSync(resolve(cwd, file), 'utf8')
      const client = await api()
      let run: WorkflowRun
      try {
        run = await client.runWorkflow({ workflow, inputs: keyValues(v.input, '--input'), ...(v.sandbox ? { sandboxId: String(v.sandbox) } : {}) })
      } catch (err) {
        // Problems in the file read like a compiler's: file:line:column: message, one per line.
        const details = isApiError(err) && Array.isArray(err.details) ? (err.details as { path?: string; message: string; line?: number; column?: number }[]) : []
        if (!isApiError(err, 'invalid_request') || !details.some((d) => d.line !== undefined)) throw err
        for (const d of details) process.stderr.write(d.line !== undefined ? `${file}:${d.line}:${d.column}: ${d.message}\n` : `${d.path}: ${d.message}\n`)
        return errorExitCode.invalid_request
      }
      return show(run, v, io, async (id, format) => (await client.getWorkflowReport({ id, format })).content)
    },
  },
  {
    words: ['workflow', 'replay'],
    summary: 'Run a stored workflow run again (same file, inputs and sandbox); prints its report',
    usage: '<wfr_…> [--report md|junit|json] [--json]',
    options: { ...json, report: { type: 'string' } },
    async run({ positionals, values: v, api, io }) {
      formatOf(v.report)
      const client = await api()
      const run = await client.replayWorkflowRun({ id: one(positionals, 'workflow run id') })
      return show(run, v, io, async (id, format) => (await client.getWorkflowReport({ id, format })).content)
    },
  },
  {
    words: ['workflow', 'runs'],
    summary: 'List workflow runs, newest first',
    usage: '[--limit N] [--next-token T] [--json]',
    options: { ...json, limit: { type: 'string' }, 'next-token': { type: 'string' } },
    async run({ values: v, api, io }) {
      const page = await (await api()).listWorkflowRuns({ ...(v.limit ? { limit: Number(v.limit) } : {}), ...(v['next-token'] ? { nextToken: String(v['next-token']) } : {}) })
      const rows = page.items.map((r) => ({ id: r.id, workflow: r.workflow, status: r.status, sandbox: r.sandboxId ?? '-', created: r.createdAt, replayOf: r.replayOf ?? '-' }))
      io.print(page, () => table(rows, ['id', 'workflow', 'status', 'sandbox', 'created', 'replayOf']) + (page.nextToken ? `\n(more: --next-token ${page.nextToken})` : ''))
      return 0
    },
  },
  {
    words: ['workflow', 'report'],
    summary: "Print a workflow run's report (Markdown by default)",
    usage: '<wfr_…> [--report md|junit|json] [--timings]',
    options: { report: { type: 'string' }, timings: { type: 'boolean' } },
    async run({ positionals, values: v, api, io }) {
      const r = await (await api()).getWorkflowReport({ id: one(positionals, 'workflow run id'), format: formatOf(v.report), ...(v.timings ? { timings: 'true' as const } : {}) })
      io.out(r.content)
      return 0
    },
  },
]
