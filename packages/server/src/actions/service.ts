/**
 * @module actions/service — runs one action: checks the caller may, validates the input, enforces the
 * deadline, and makes the output deterministic (sorted keys; timing only when asked).
 */
import type { ActionInfo, ActionResult, Principal } from '@tidepool/sdk'
import { z } from 'zod'
import { AppError, invalidInput } from '../core/errors.js'
import type { Action, ActionEnv, CloneAccess, SandboxExec } from './action.js'
import { builtinActions } from './catalog.js'
import { sortedKeys } from './stable.js'

export interface RunActionRequest {
  name: string
  sandboxId?: string | undefined
  input: Record<string, unknown>
  timeoutMs?: number | undefined
  timing: boolean
}

export interface ActionServiceDeps {
  sandbox: SandboxExec
  /** Clones for db.query (absent: db.query answers runtime_unavailable). */
  clones?: CloneAccess | undefined
  actions?: ReadonlyMap<string, Action>
  /**
   * The policy's answer for one action run (main.ts hands in the Cedar gate), so an action a workflow step
   * runs is decided like one called directly. Absent: the action's scope rules below decide.
   */
  authorise?: (principal: Principal, req: { name: string; sandboxId?: string | undefined }) => Promise<void>
}

export class ActionService {
  readonly #actions: ReadonlyMap<string, Action>
  #catalog: ActionInfo[] | undefined

  constructor(private readonly deps: ActionServiceDeps) {
    this.#actions = deps.actions ?? builtinActions
  }

  /** Every action with its JSON Schemas, sorted by name (computed once). */
  list(): ActionInfo[] {
    this.#catalog ??= [...this.#actions.values()].map((a) => ({
      name: a.name,
      summary: a.summary,
      needsSandbox: a.needsSandbox,
      readOnly: a.readOnly,
      timeoutMs: a.timeoutMs,
      inputSchema: jsonSchemaOf(a.input, 'input'),
      outputSchema: jsonSchemaOf(a.output, 'output'),
    }))
    return this.#catalog
  }

  async run(principal: Principal, req: RunActionRequest): Promise<ActionResult> {
    const action = this.#actions.get(req.name)
    if (!action) throw new AppError('not_found', `action ${req.name} does not exist; GET /v1/actions lists them`)
    const sandboxId = req.sandboxId
    if (action.needsSandbox && !sandboxId) throw new AppError('invalid_request', `sandboxId: ${action.name} runs inside a sandbox; pass sandboxId`, [{ path: 'sandboxId', message: 'required' }])
    if (this.deps.authorise) await this.deps.authorise(principal, { name: action.name, sandboxId })
    else checkScopes(principal, action)
    const parsed = action.input.safeParse(req.input)
    if (!parsed.success) throw prefixed(invalidInput(parsed.error, req.input))
    const timeoutMs = Math.min(action.timeoutMs, req.timeoutMs ?? action.timeoutMs)
    const started = performance.now()
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), timeoutMs)
    timer.unref()
    const remainingMs = () => Math.max(0, timeoutMs - (performance.now() - started))
    const env: ActionEnv = {
      signal: abort.signal,
      remainingMs,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(ms, remainingMs()))).unref?.()),
      cloneUrl: async (cloneId) => {
        if (!this.deps.clones) throw new AppError('runtime_unavailable', 'ephemeral databases are not configured on this server; db.query is unavailable')
        if (!cloneId && !sandboxId)
          throw new AppError('invalid_request', 'input.cloneId: name a clone, or pass the sandboxId its clone is bound to', [{ path: 'input.cloneId', message: 'required without sandboxId' }])
        return this.deps.clones.url(principal, { cloneId, sandboxId })
      },
      exec: async (r) => {
        if (!sandboxId) throw new AppError('internal', `action ${action.name} ran a command without a sandbox`)
        const left = Math.max(1, Math.floor(remainingMs()))
        return this.deps.sandbox.exec(principal, sandboxId, { ...r, timeoutMs: Math.min(r.timeoutMs ?? left, left) })
      },
    }
    let outcome: { ok: boolean; output: unknown }
    try {
      const timedOut = new Promise<'timeout'>((resolve) => abort.signal.addEventListener('abort', () => resolve('timeout'), { once: true }))
      const raced = await Promise.race([action.run(parsed.data, env), timedOut])
      outcome = raced === 'timeout' ? { ok: false, output: { timedOut: true, timeoutMs } } : raced
    } finally {
      clearTimeout(timer)
      abort.abort()
    }
    const result: ActionResult = { ok: outcome.ok, output: sortedKeys(outcome.output) }
    if (req.timing) result.durationMs = Math.round((performance.now() - started) * 10) / 10
    return result
  }
}

/** The action's input errors, named under `input.` as the caller sent them. */
function prefixed(err: AppError): AppError {
  const details = Array.isArray(err.details) ? (err.details as { path: string; message: string }[]).map((d) => ({ ...d, path: d.path ? `input.${d.path}` : 'input' })) : err.details
  const message = Array.isArray(details) ? details.map((d: { path: string; message: string }) => `${d.path}: ${d.message}`).join('; ') : `input: ${err.message}`
  return new AppError('invalid_request', message, details)
}

function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>
}

/** The scope rules of an action without a policy gate (what the default policy says too). */
function checkScopes(principal: Principal, action: Action): void {
  // Actions in a sandbox run commands there: the caller needs what exec needs.
  if (action.needsSandbox && !principal.scopes.includes('admin') && !principal.scopes.includes('sandboxes:write')) {
    throw new AppError('policy_denied', `action ${action.name} runs commands in a sandbox and needs scope sandboxes:write; this token has ${principal.scopes.join(', ') || 'none'}`, {
      required: 'sandboxes:write',
    })
  }
  if (action.requires && !principal.scopes.includes('admin') && !principal.scopes.includes(action.requires)) {
    throw new AppError('policy_denied', `action ${action.name} needs scope ${action.requires}; this token has ${principal.scopes.join(', ') || 'none'}`, { required: action.requires })
  }
}
