/** @module policy/call — one operation call as a policy request, and the policy_denied error of a refusal. */
import { operations, type OpName, type Principal } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { Decision, PolicyEngine } from './engine.js'
import type { CallContext, ResourceFacts } from './entities.js'
import { actionRunId, targetsSandboxById, type ActionFacts } from './schema.js'

/** A sandbox's facts by id, in the caller's project; undefined when there is none (the handler then says not_found). */
export type SandboxLookup = (principal: Principal, id: string) => Promise<{ project: string; state: string; labels: Record<string, string> } | undefined>

export interface CallRequest {
  action: string
  resource: ResourceFacts
  context: CallContext
}

/** The sandbox an operation's validated input targets: `id` under /v1/sandboxes/{id}, else `sandboxId`. */
export function sandboxOf(name: OpName, input: Record<string, unknown>): string | undefined {
  const id = targetsSandboxById(name) ? input.id : input.sandboxId
  return typeof id === 'string' ? id : undefined
}

/**
 * The request for one call. A runAction of a known action is that action (`action:<name>`), and needs
 * what the actions area asks for besides runAction's scope: sandboxes:write in a sandbox, its `requires`.
 */
export async function callRequest(
  principal: Principal,
  name: OpName,
  input: Record<string, unknown>,
  deps: { actions: ReadonlyMap<string, ActionFacts>; lookup: SandboxLookup; readsResource: boolean; defaultIsolation?: string },
): Promise<CallRequest> {
  const op = operations[name]
  const sandboxId = sandboxOf(name, input)
  const required = new Set<string>([op.scope])
  let action: string = name
  let readOnly = op.method === 'GET'
  let actionName: string | undefined
  if (name === 'runAction' && typeof input.name === 'string') {
    actionName = input.name
    const facts = deps.actions.get(actionName)
    if (facts) {
      action = actionRunId(facts.name)
      readOnly = facts.readOnly
      if (facts.needsSandbox && sandboxId !== undefined) required.add('sandboxes:write')
      if (facts.requires) required.add(facts.requires)
    }
  }
  let resource: ResourceFacts = { kind: 'project', id: principal.project }
  if (sandboxId !== undefined) {
    // Labels are looked up only when some policy reads the resource (the default policy does not).
    const found = deps.readsResource ? await deps.lookup(principal, sandboxId) : undefined
    resource = { kind: 'sandbox', id: sandboxId, project: found?.project ?? '', state: found?.state ?? '', labels: found?.labels ?? {} }
  }
  const context: CallContext = { op: name, requiredScopes: [...required].sort(), readOnly, actionName, sandboxId }
  // The isolation level the sandbox will run at, so a policy can require gvisor (README, Isolation levels).
  if (name === 'createSandbox') context.isolation = typeof input.isolation === 'string' ? input.isolation : (deps.defaultIsolation ?? 'namespaces')
  return { action, resource, context }
}

/** Decides one call; a refusal is policy_denied naming the policy that forbade it (or that none permits it). */
export async function authoriseCall(engine: PolicyEngine, principal: Principal, name: OpName, input: Record<string, unknown>, deps: Parameters<typeof callRequest>[3]): Promise<void> {
  const req = await callRequest(principal, name, input, deps)
  const d = engine.decide(principal, req.action, req.resource, req.context)
  if (!d.allow) throw deniedError(principal, req, d)
}

export function deniedError(principal: Principal, req: CallRequest, d: Decision): AppError {
  const what = `${req.context.op}${req.context.actionName !== undefined ? ` (action ${req.context.actionName})` : ''}${req.resource.kind === 'sandbox' ? ` on sandbox ${req.resource.id}` : ''}`
  const held = principal.scopes.join(', ') || 'none'
  const missing = principal.scopes.includes('admin') ? [] : req.context.requiredScopes.filter((s) => !principal.scopes.includes(s as never))
  const policy = d.policies[0]
  const why =
    policy !== undefined
      ? `${what} is forbidden by policy ${policy}`
      : missing.length > 0
        ? `${what} needs scope ${missing.join(', ')}; this token has ${held} (no policy permits it)`
        : `no policy permits ${what} for this token (scopes ${held})`
  return new AppError('policy_denied', why, {
    policy: policy ?? null,
    policies: d.policies,
    ...(missing.length > 0 ? { required: missing.join(', ') } : {}),
    ...(d.errors.length > 0 ? { errors: d.errors } : {}),
  })
}
