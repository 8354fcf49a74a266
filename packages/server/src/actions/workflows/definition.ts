/**
 * @module actions/workflows/definition — a workflow file, checked whole before anything runs: its shape,
 * each step's action and its `with` against that action's input schema, every `${{ … }}` expression and
 * reference (declared inputs, earlier steps only). Every problem is reported at once, with line and column.
 */
import { z } from 'zod'
import type { Action } from '../action.js'
import { callsStatusFn, ExprError, parseExpr, parseTemplate, refsOf, type Expr, type Template } from './expr.js'
import { pathText, readWorkflowYaml, WorkflowSourceError, type PathSeg, type SourceIssue, type WorkflowSource } from './yaml-source.js'

export const maxSteps = 100

const isNameChar = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_' || c === '-'
/** Step ids and input names: a letter or _, then letters, digits, _ and - (what an expression reference can spell). */
const Ident = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !(s[0]! >= '0' && s[0]! <= '9') && s[0] !== '-' && [...s].every(isNameChar), 'use letters, digits, _ and - (not first: a digit or -)')

const InputDecl = z
  .object({
    type: z.enum(['string', 'number', 'boolean']).default('string'),
    description: z.string().max(1024).optional(),
    required: z.boolean().default(false),
    default: z.union([z.string().max(65_536), z.number(), z.boolean()]).optional(),
  })
  .strict()
export type InputDecl = z.output<typeof InputDecl>

const StepDecl = z
  .object({
    id: Ident,
    name: z.string().max(256).optional(),
    uses: z.string().min(1).max(64),
    with: z.record(z.string().max(128), z.unknown()).default({}),
    if: z.union([z.string().min(1).max(1024), z.boolean()]).optional(),
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
    on_failure: z.enum(['fail', 'continue', 'snapshot']).default('fail'),
  })
  .strict()

const WorkflowDecl = z
  .object({
    name: z.string().min(1).max(128),
    description: z.string().max(4096).optional(),
    inputs: z
      .record(Ident, InputDecl)
      .refine((r) => Object.keys(r).length <= 64, 'at most 64 inputs')
      .default({}),
    steps: z.array(StepDecl).min(1, 'a workflow has at least one step').max(maxSteps, `a workflow has at most ${maxSteps} steps`),
  })
  .strict()

/** A `with` value ready to resolve: literal parts as they are, `${{ … }}` strings parsed once. */
export type WithValue = { k: 'lit'; v: unknown } | { k: 'tpl'; t: Template } | { k: 'arr'; items: WithValue[] } | { k: 'obj'; entries: [string, WithValue][] }

export interface CompiledStep {
  id: string
  name?: string | undefined
  uses: string
  action: Action
  with: WithValue
  /** Absent: run when no earlier step failed the run (`success()`). */
  if?: Expr | undefined
  /** The `if` names no status function, so it means `success() && (if)`. */
  ifImpliesSuccess: boolean
  timeoutMs?: number | undefined
  onFailure: 'fail' | 'continue' | 'snapshot'
}

export interface CompiledWorkflow {
  name: string
  inputs: Map<string, InputDecl>
  steps: CompiledStep[]
  source: WorkflowSource
}

/**
 * Reads and checks a workflow file against the actions it may use. Throws WorkflowSourceError with
 * every issue (each with line and column) when anything is wrong; nothing has run by then.
 */
export function compileWorkflow(text: string, actions: ReadonlyMap<string, Action>, opts: { hasSandbox: boolean }): CompiledWorkflow {
  const source = readWorkflowYaml(text)
  const parsed = WorkflowDecl.safeParse(source.value)
  if (!parsed.success) throw new WorkflowSourceError(parsed.error.issues.slice(0, 50).map((i) => source.issue(i.path as PathSeg[], i.message)))
  const decl = parsed.data
  const issues: SourceIssue[] = []
  const inputs = new Map(Object.entries(decl.inputs))
  for (const [name, d] of inputs) {
    if (d.default !== undefined && typeof d.default !== d.type) issues.push(source.issue(['inputs', name, 'default'], `the default of a ${d.type} input must be a ${d.type}`))
  }

  const seen = new Set<string>()
  const steps: CompiledStep[] = []
  decl.steps.forEach((s, i) => {
    const at = (...rest: PathSeg[]) => ['steps', i, ...rest]
    if (seen.has(s.id)) issues.push(source.issue(at('id'), `step id ${s.id} is used twice; step ids are unique`))
    const action = actions.get(s.uses)
    if (!action) issues.push(source.issue(at('uses'), `unknown action ${s.uses}; GET /v1/actions lists them`))
    else if (action.needsSandbox && !opts.hasSandbox) issues.push(source.issue(at('uses'), `${s.uses} runs inside a sandbox; run the workflow with sandboxId (--sandbox)`))

    // References may name declared inputs and steps before this one.
    const checkRefs = (e: Expr, path: PathSeg[], base: number) => {
      for (const r of refsOf(e)) {
        const problem = refProblem(r.path, inputs, seen)
        if (problem) issues.push(source.issue(path, problem, base + r.at))
      }
    }
    const templatePaths: string[] = []
    const compileValue = (v: unknown, path: PathSeg[], depth: number): WithValue => {
      if (typeof v === 'string') {
        try {
          const t = parseTemplate(v)
          if (!t) return { k: 'lit', v }
          // `port: ${{ inputs.port }}` keeps the value's type; quoted, `"${{ inputs.port }}"` is always a string.
          if (t.whole && source.quoted(path)) t.whole = false
          templatePaths.push(pathText(path.slice(3)))
          for (const p of t.parts) if (typeof p !== 'string') checkRefs(p.expr, path, p.at)
          return { k: 'tpl', t }
        } catch (err) {
          if (err instanceof ExprError) issues.push(source.issue(path, err.message, err.offset))
          else throw err
          return { k: 'lit', v }
        }
      }
      if (Array.isArray(v)) {
        const items = v.map((x, j) => compileValue(x, [...path, j], depth + 1))
        return items.every((x) => x.k === 'lit') ? { k: 'lit', v } : { k: 'arr', items }
      }
      if (v !== null && typeof v === 'object') {
        const entries = Object.entries(v).map(([k, x]) => [k, compileValue(x, [...path, k], depth + 1)] as [string, WithValue])
        return entries.every(([, x]) => x.k === 'lit') ? { k: 'lit', v } : { k: 'obj', entries }
      }
      return { k: 'lit', v }
    }
    const withValue = compileValue(s.with, at('with'), 0)

    // `with` against the action's input: values that are `${{ … }}` are known only when the step runs.
    if (action) {
      const checked = action.input.safeParse(s.with)
      if (!checked.success) {
        for (const issue of checked.error.issues) {
          const p = pathText(issue.path as PathSeg[])
          if (templatePaths.some((t) => p === t || p.startsWith(`${t}.`) || p.startsWith(`${t}[`))) continue
          issues.push(source.issue(at('with', ...(issue.path as PathSeg[])), `${s.uses}: ${issue.message}`))
        }
      }
    }

    let ifExpr: Expr | undefined
    let ifImpliesSuccess = true
    if (typeof s.if === 'string') {
      // `if: ${{ … }}` and a bare `if: …` mean the same, as on GitHub.
      const trimmed = s.if.trim()
      const wrapped = trimmed.startsWith('${{') && trimmed.endsWith('}}')
      const text = wrapped ? trimmed.slice(3, -2) : s.if
      const base = wrapped ? s.if.indexOf('${{') + 3 : 0
      try {
        ifExpr = parseExpr(text)
        ifImpliesSuccess = !callsStatusFn(ifExpr)
        checkRefs(ifExpr, at('if'), base)
      } catch (err) {
        if (err instanceof ExprError) issues.push(source.issue(at('if'), err.message, base + err.offset))
        else throw err
      }
    } else if (typeof s.if === 'boolean') ifExpr = { kind: 'lit', value: s.if, at: 0 }

    seen.add(s.id)
    if (action) steps.push({ id: s.id, name: s.name, uses: s.uses, action, with: withValue, if: ifExpr, ifImpliesSuccess, timeoutMs: s.timeoutMs, onFailure: s.on_failure })
  })
  if (issues.length > 0) throw new WorkflowSourceError(issues.slice(0, 50))
  return { name: decl.name, inputs, steps, source }
}

/** Why a reference cannot resolve (undefined when it can). */
function refProblem(path: string[], inputs: Map<string, InputDecl>, earlier: Set<string>): string | undefined {
  const ref = path.join('.')
  if (path[0] === 'inputs') {
    if (path.length !== 2) return `${ref}: write inputs.<name>`
    return inputs.has(path[1]!) ? undefined : `${ref}: no input ${path[1]} is declared under inputs`
  }
  if (path[0] === 'steps') {
    const id = path[1]
    if (id === undefined) return `${ref}: write steps.<id>.outputs.<name>, steps.<id>.outcome or steps.<id>.ok`
    if (!earlier.has(id)) return `${ref}: ${id} is not the id of an earlier step (a step sees only the steps before it)`
    const what = path[2]
    if (what === 'outputs') return path.length >= 4 ? undefined : `${ref}: name the output, e.g. steps.${id}.outputs.status`
    if ((what === 'outcome' || what === 'ok') && path.length === 3) return undefined
    return `${ref}: a step has outputs.<name>, outcome and ok`
  }
  return `${ref}: unknown reference; references start with inputs. or steps.`
}
