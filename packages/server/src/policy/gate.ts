/** @module policy/gate — what dispatch asks of the policy area for every call: the engine, the action catalog, sandbox labels. */
import type { OpName, Principal } from '@tidepool/sdk'
import type { Logger } from '../core/log.js'
import { authoriseCall, type SandboxLookup } from './call.js'
import { PolicyEngine, type PolicyStatus } from './engine.js'
import { remediationId, type ActionFacts } from './schema.js'

export interface PolicyGateOptions {
  files: readonly string[]
  actions: readonly ActionFacts[]
  lookup: SandboxLookup
  log: Logger
  /** runtime.defaultIsolation: a createSandbox that names no isolation is decided with this one. */
  defaultIsolation?: string
  /** Bench only: false skips the policy evaluation and leaves the scope check alone (today's behaviour before Cedar). */
  evaluate?: boolean
}

export class PolicyGate {
  readonly engine: PolicyEngine
  readonly #actions: ReadonlyMap<string, ActionFacts>
  readonly #lookup: SandboxLookup
  readonly #log: Logger
  readonly #evaluate: boolean
  readonly #defaultIsolation: string

  /** Throws invalid_request naming file:line:col when a policy does not parse or breaks the schema. */
  constructor(opts: PolicyGateOptions) {
    this.engine = new PolicyEngine({ files: opts.files, actions: opts.actions })
    this.#actions = new Map(opts.actions.map((a) => [a.name, a]))
    this.#lookup = opts.lookup
    this.#log = opts.log
    this.#evaluate = opts.evaluate ?? true
    this.#defaultIsolation = opts.defaultIsolation ?? 'namespaces'
  }

  /**
   * The operation's scope may refuse a call before its input is read only where that is the policy's
   * answer too: under the built-in default (which requires at least that scope), or with evaluation off.
   */
  get screensByScope(): boolean {
    return !this.#evaluate || this.engine.isDefault
  }

  /** The policy's answer for one validated call; policy_denied naming the policy when it refuses. */
  async authorise(principal: Principal, name: OpName, input: Record<string, unknown>): Promise<void> {
    if (!this.#evaluate) return
    await authoriseCall(this.engine, principal, name, input, {
      actions: this.#actions,
      lookup: this.#lookup,
      readsResource: this.engine.readsResource,
      defaultIsolation: this.#defaultIsolation,
    })
  }

  /**
   * A remediation the feedback loop would apply (`auto`) or a person applies: `remediation:<kind>` on the
   * project, the actor (`system:remediation` or the applying token's id) as a Token without scopes. The
   * insights gate 'policy' shows the reason.
   */
  decideRemediation(req: { project: string; kind: string; auto: boolean; actor: string }): { allow: boolean; reason: string } {
    const action = remediationId(req.kind)
    if (!this.#evaluate) return { allow: true, reason: 'policy evaluation is off' }
    const principal: Principal = { tokenId: req.actor, name: req.actor, project: req.project, scopes: [] }
    const d = this.engine.decide(principal, action, { kind: 'project', id: req.project }, { op: action, requiredScopes: [], readOnly: false, auto: req.auto })
    if (d.allow) return { allow: true, reason: `policy permits ${action} (${d.policies.join(', ')})` }
    return { allow: false, reason: d.policies[0] !== undefined ? `${action} is forbidden by policy ${d.policies[0]}` : `no policy permits ${action}` }
  }

  /** Reloads the files; an invalid set keeps the old one in force and throws why (invalid_request). */
  reload(): PolicyStatus {
    try {
      const status = this.engine.reload()
      this.#log.info({ policies: status.policies.length, version: status.version }, 'policy reloaded')
      return status
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'policy reload refused; the previous policies stay in force')
      throw err
    }
  }
}
