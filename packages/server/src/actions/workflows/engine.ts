/**
 * @module actions/workflows/engine — runs a compiled workflow's steps in order: evaluates each `if`,
 * resolves `with`, runs the action through the actions service (as the caller, so its scopes apply),
 * and applies `on_failure`. Results are data only (sorted keys); timings are kept apart.
 */
import type { ActionResult, Principal, WorkflowStepResult } from '@tidepool/sdk'
import { AppError, codeOf } from '../../core/errors.js'
import type { SandboxSnapshotter } from '../../kit/snapshot-seam.js'
import type { RunActionRequest } from '../service.js'
import { sortedKeys } from '../stable.js'
import type { CompiledStep, CompiledWorkflow, InputDecl, WithValue } from './definition.js'
import { evaluate, ExprError, renderTemplate, truthy, type EvalScope } from './expr.js'

/** Runs one action (ActionService.run fits). */
export interface StepRunner {
  run(principal: Principal, req: RunActionRequest): Promise<ActionResult>
}

export interface EngineDeps {
  runner: StepRunner
  /** For on_failure: snapshot (absent: such a step records that no snapshot could be taken). */
  snapshots?: SandboxSnapshotter | undefined
}

export interface EngineRun {
  principal: Principal
  sandboxId?: string | undefined
  inputs: Record<string, string | number | boolean>
  /** Labels the run's snapshots carry (the run id). */
  runId: string
}

export interface EngineResult {
  status: 'passed' | 'failed'
  steps: WorkflowStepResult[]
  timings: { durationMs: number; steps: Record<string, number> }
}

const ms = (start: number) => Math.round((performance.now() - start) * 1000) / 1000

/** The inputs as the workflow declares them: defaults filled in, strings converted to numbers and booleans. */
export function resolveInputs(decls: Map<string, InputDecl>, sent: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const out = Object.create(null) as Record<string, string | number | boolean>
  const problems: { path: string; message: string }[] = []
  for (const k of Object.keys(sent)) if (!decls.has(k)) problems.push({ path: `inputs.${k}`, message: `the workflow declares no input ${k} (it has ${[...decls.keys()].join(', ') || 'none'})` })
  for (const [name, d] of decls) {
    const raw = Object.hasOwn(sent, name) ? sent[name] : d.default
    if (raw === undefined) {
      if (d.required) problems.push({ path: `inputs.${name}`, message: 'required (the workflow declares it required and gives no default)' })
      continue
    }
    const v = convert(raw, d.type)
    if (v === undefined) problems.push({ path: `inputs.${name}`, message: `must be a ${d.type} (got ${JSON.stringify(raw)})` })
    else out[name] = v
  }
  if (problems.length > 0) throw new AppError('invalid_request', problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems)
  return out
}

function convert(v: string | number | boolean, type: InputDecl['type']): string | number | boolean | undefined {
  if (typeof v === type) return v
  if (typeof v !== 'string') return type === 'string' ? String(v) : undefined
  if (type === 'number') return v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined
  if (type === 'boolean') return v === 'true' ? true : v === 'false' ? false : undefined
  return v
}

/** A value inside an action's output, by path; own properties only (an output never reaches a prototype). */
function dig(value: unknown, path: readonly string[]): { found: boolean; value?: unknown } {
  let v = value
  for (const seg of path) {
    if (Array.isArray(v)) {
      const i = Number(seg)
      if (!Number.isInteger(i) || i < 0 || i >= v.length) return { found: false }
      v = v[i]
    } else if (v !== null && typeof v === 'object' && Object.hasOwn(v, seg)) v = (v as Record<string, unknown>)[seg]
    else return { found: false }
  }
  return { found: true, value: v }
}

function resolveWith(w: WithValue, scope: EvalScope): unknown {
  switch (w.k) {
    case 'lit':
      return w.v
    case 'tpl':
      return renderTemplate(w.t, scope)
    case 'arr':
      return w.items.map((x) => resolveWith(x, scope))
    case 'obj': {
      const out = Object.create(null) as Record<string, unknown>
      for (const [k, x] of w.entries) out[k] = resolveWith(x, scope)
      return out
    }
  }
}

export async function runWorkflowSteps(wf: CompiledWorkflow, run: EngineRun, deps: EngineDeps): Promise<EngineResult> {
  const started = performance.now()
  const results: WorkflowStepResult[] = []
  const byId = new Map<string, WorkflowStepResult>()
  const timings: Record<string, number> = Object.create(null) as Record<string, number>
  let failed = false
  const scope: EvalScope = {
    get failed() {
      return failed
    },
    ref(path) {
      const ref = path.join('.')
      if (path[0] === 'inputs') {
        if (!Object.hasOwn(run.inputs, path[1]!)) throw new ExprError(`${ref} is not set (the input has no value and no default)`, 0)
        return run.inputs[path[1]!]
      }
      const step = byId.get(path[1]!)
      if (!step) throw new ExprError(`${ref}: step ${path[1]} has not run`, 0)
      if (path[2] === 'outcome') return step.status === 'passed' ? 'success' : step.status === 'failed' ? 'failure' : 'skipped'
      if (path[2] === 'ok') return step.status === 'passed'
      const got = dig(step.output, path.slice(3))
      if (!got.found) throw new ExprError(`${ref} is not set (step ${step.id} ${step.status === 'skipped' ? 'was skipped' : 'has no such output'})`, 0)
      return got.value
    },
  }

  for (const step of wf.steps) {
    const result: WorkflowStepResult = { id: step.id, ...(step.name !== undefined ? { name: step.name } : {}), uses: step.uses, status: 'skipped', onFailure: step.onFailure }
    try {
      if (shouldRun(step, scope)) {
        const input = resolveWith(step.with, scope) as Record<string, unknown>
        const t0 = performance.now()
        try {
          const r = await deps.runner.run(run.principal, { name: step.uses, sandboxId: run.sandboxId, input, timeoutMs: step.timeoutMs, timing: false })
          result.status = r.ok ? 'passed' : 'failed'
          result.output = r.output
        } finally {
          timings[step.id] = ms(t0)
        }
      }
    } catch (err) {
      result.status = 'failed'
      const code = err instanceof ExprError ? 'invalid_request' : codeOf(err)
      result.error = { code, message: code === 'internal' ? 'internal error; the server log has the details' : (err as Error).message }
    }
    if (result.status === 'failed') {
      if (step.onFailure !== 'continue') failed = true
      if (step.onFailure === 'snapshot') await snapshotOnFailure(result, run, deps)
    }
    results.push(sortedKeys(result) as WorkflowStepResult)
    byId.set(step.id, result)
  }
  return { status: failed ? 'failed' : 'passed', steps: results, timings: { durationMs: ms(started), steps: timings } }
}

function shouldRun(step: CompiledStep, scope: EvalScope): boolean {
  if (!step.if) return !scope.failed
  if (step.ifImpliesSuccess && scope.failed) return false
  return truthy(evaluate(step.if, scope))
}

async function snapshotOnFailure(result: WorkflowStepResult, run: EngineRun, deps: EngineDeps): Promise<void> {
  const why = !run.sandboxId ? 'the run has no sandbox' : !deps.snapshots ? 'snapshots are not available on this server' : undefined
  if (why) {
    result.error ??= { code: 'invalid_request', message: `on_failure: snapshot took no snapshot: ${why}` }
    return
  }
  try {
    const snap = await deps.snapshots!.snapshot(run.principal, run.sandboxId!, { workflowRun: run.runId, step: result.id })
    result.snapshotId = snap.id
  } catch (err) {
    result.error ??= { code: codeOf(err), message: `on_failure: snapshot failed: ${(err as Error).message}` }
  }
}
