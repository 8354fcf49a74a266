/**
 * @module actions/workflows/service — workflow runs: validate the file whole, store the run before its
 * first step, run the steps, store the outcome; list, get, report, replay. Scoped to the caller's project.
 */
import type { Principal, WorkflowReport, WorkflowRun, WorkflowStepResult } from '@tidepool/sdk'
import type { Clock } from '../../core/clock.js'
import { AppError } from '../../core/errors.js'
import { newId } from '../../core/ids.js'
import { decodeCursor } from '../../kit/cursor.js'
import { pageOf, type Page } from '../../kit/page.js'
import type { SandboxSnapshotter } from '../../kit/snapshot-seam.js'
import type { Db } from '../../store/db.js'
import type { WorkflowRunRow, WorkflowTables } from '../../store/schema.js'
import type { Action } from '../action.js'
import { compileWorkflow } from './definition.js'
import { resolveInputs, runWorkflowSteps, type StepRunner } from './engine.js'
import { jsonReport, junitReport, markdownReport } from './reports.js'
import { WorkflowSourceError } from './yaml-source.js'

export interface WorkflowServiceDeps {
  db: Db
  clock: Clock
  /** The actions a step may use (the actions service's catalog). */
  actions: ReadonlyMap<string, Action>
  runner: StepRunner
  snapshots?: SandboxSnapshotter | undefined
}

export interface StartWorkflowRun {
  workflow: string
  inputs: Record<string, string | number | boolean>
  sandboxId?: string | undefined
}

type RunSummary = Omit<WorkflowRun, 'steps' | 'inputs' | 'timings'>

/** JSON from the store as null-prototype records (a key like __proto__ stays data). */
const parse = <T>(text: string): T => JSON.parse(text, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.assign(Object.create(null) as object, v) : v)) as T

export class WorkflowService {
  constructor(private readonly deps: WorkflowServiceDeps) {}

  get #db() {
    return this.deps.db.withTables<WorkflowTables>()
  }

  /** Checks the file and inputs (invalid_request with line and column for each problem), then runs it to the end. */
  async run(principal: Principal, req: StartWorkflowRun, replayOf?: string): Promise<WorkflowRun> {
    let wf
    try {
      wf = compileWorkflow(req.workflow, this.deps.actions, { hasSandbox: req.sandboxId !== undefined })
    } catch (err) {
      if (err instanceof WorkflowSourceError)
        throw new AppError(
          'invalid_request',
          `workflow: ${err.message}`,
          err.issues.map((i) => ({ ...i, path: i.path ? `workflow.${i.path}` : 'workflow' })),
        )
      throw err
    }
    const inputs = resolveInputs(wf.inputs, req.inputs)
    const id = newId('wfr', 16)
    const row: WorkflowRunRow = {
      id,
      project: principal.project,
      name: wf.name,
      status: 'running',
      sandbox_id: req.sandboxId ?? null,
      workflow: req.workflow,
      inputs_sent: JSON.stringify(req.inputs),
      inputs: JSON.stringify(inputs),
      steps: '[]',
      timings: null,
      replay_of: replayOf ?? null,
      created_by: principal.tokenId,
      created_at: new Date(this.deps.clock.now()).toISOString(),
      finished_at: null,
    }
    await this.#db.insertInto('workflow_runs').values(row).execute()
    const result = await runWorkflowSteps(wf, { principal, sandboxId: req.sandboxId, inputs, runId: id }, this.deps)
    const done = { status: result.status, steps: JSON.stringify(result.steps), timings: JSON.stringify(result.timings), finished_at: new Date(this.deps.clock.now()).toISOString() }
    await this.#db.updateTable('workflow_runs').set(done).where('id', '=', id).execute()
    return view({ ...row, ...done })
  }

  async get(principal: Principal, id: string): Promise<WorkflowRun> {
    return view(await this.#row(principal, id))
  }

  /** Newest first; the token holds the created_at and id of the last run returned. */
  async list(principal: Principal, page: { limit: number; nextToken?: string | undefined }): Promise<Page<RunSummary>> {
    const after = decodeCursor(page.nextToken)
    let q = this.#db
      .selectFrom('workflow_runs')
      .select(['id', 'name', 'status', 'sandbox_id', 'replay_of', 'created_by', 'created_at', 'finished_at'])
      .where('project', '=', principal.project)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
    if (after !== undefined) {
      const cut = after.indexOf('~')
      if (cut < 0) throw new AppError('invalid_request', 'nextToken is not a token this API returned; pass the nextToken of the previous page')
      const at = after.slice(0, cut)
      const lastId = after.slice(cut + 1)
      q = q.where((eb) => eb.or([eb('created_at', '<', at), eb.and([eb('created_at', '=', at), eb('id', '<', lastId)])]))
    }
    const rows = await q.execute()
    const items = rows.map((r) => ({ ...summaryOf(r), cursor: `${r.created_at}~${r.id}` }))
    const p = pageOf(items, page.limit, (r) => r.cursor)
    return { items: p.items.map(({ cursor: _c, ...r }) => r), ...(p.nextToken ? { nextToken: p.nextToken } : {}) }
  }

  async report(principal: Principal, id: string, format: 'json' | 'junit' | 'markdown', timings = false): Promise<WorkflowReport> {
    const run = await this.get(principal, id)
    if (run.status === 'running') throw new AppError('conflict', `workflow run ${id} is still running; its report exists once it ends`)
    if (format === 'junit') return { id, format, mediaType: 'application/xml', content: junitReport(run) }
    if (format === 'markdown') return { id, format, mediaType: 'text/markdown', content: markdownReport(run) }
    return { id, format, mediaType: 'application/json', content: jsonReport(run, { timings }) }
  }

  /** The same workflow text, inputs as sent and sandbox, as a new run (the new run names the old one). */
  async replay(principal: Principal, id: string): Promise<WorkflowRun> {
    const row = await this.#row(principal, id)
    return this.run(principal, { workflow: row.workflow, inputs: parse(row.inputs_sent), sandboxId: row.sandbox_id ?? undefined }, row.id)
  }

  async #row(principal: Principal, id: string): Promise<WorkflowRunRow> {
    const row = await this.#db.selectFrom('workflow_runs').selectAll().where('id', '=', id).where('project', '=', principal.project).executeTakeFirst()
    if (!row) throw new AppError('not_found', `workflow run ${id} not found`)
    return row
  }
}

function summaryOf(r: Pick<WorkflowRunRow, 'id' | 'name' | 'status' | 'sandbox_id' | 'replay_of' | 'created_by' | 'created_at' | 'finished_at'>): RunSummary {
  return {
    id: r.id,
    workflow: r.name,
    status: r.status,
    ...(r.sandbox_id ? { sandboxId: r.sandbox_id } : {}),
    ...(r.replay_of ? { replayOf: r.replay_of } : {}),
    createdBy: r.created_by,
    createdAt: r.created_at,
    ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
  }
}

function view(r: WorkflowRunRow): WorkflowRun {
  return {
    ...summaryOf(r),
    inputs: parse(r.inputs),
    steps: parse<WorkflowStepResult[]>(r.steps),
    ...(r.timings ? { timings: parse(r.timings) } : {}),
  }
}
