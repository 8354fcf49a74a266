/** @module policy/engine — the one policy engine: a validated Cedar policy set, its decisions, reloads. */
import type { Principal } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import { cedar } from './cedar.js'
import { defaultPolicyName, defaultPolicyText } from './default-policy.js'
import { contextRecord, principalEntity, resourceEntity, type CallContext, type ResourceFacts } from './entities.js'
import { loadPolicies, readSources, type LoadedPolicies, type PolicySource } from './load.js'
import { cedarSchema, type ActionFacts } from './schema.js'

export interface Decision {
  allow: boolean
  /** The policies that decided: the forbids that matched on a deny, the permits that matched on an allow (none: nothing permits). */
  policies: string[]
  /** Policies that failed to evaluate (they count as not matching); named for the operator. */
  errors: string[]
}

export interface PolicyStatus {
  files: string[]
  policies: string[]
  version: number
  loadedAt: string
}

export interface PolicyEngineOptions {
  /** Policy files; none: the built-in default policy. */
  files: readonly string[]
  actions: readonly ActionFacts[]
  /** Decisions kept for repeated identical requests (cleared on reload); 0 turns the cache off. */
  cacheSize?: number
}

/** Names for preparsed sets are process-wide in cedar-wasm (several engines may share one process). */
let preparsedSeq = 0
/**
 * Decisions cached per engine: 10 000 — but none on Node 20. There (V8 11.3) a hot loop of distinct
 * decisions through the cache made V8's deoptimizer abort the process ("unreachable code", deoptimizing
 * wasm-bindgen's passStringToWasm0 in cedar-wasm's glue): every time at 9000 entries, sometimes at 1000,
 * never in 60 000 uncached decisions, never on Node 24 at any size. Uncached costs ~0.2 ms a decision.
 */
const maxCache = Number(process.versions.node.split('.')[0]) < 22 ? 0 : 10_000

export class PolicyEngine {
  readonly schema: string
  readonly #files: readonly string[]
  readonly #schemaName: string
  readonly #cacheSize: number
  readonly #cache = new Map<string, Decision>()
  #loaded!: LoadedPolicies
  #setId = ''
  #version = 0
  #loadedAt = ''

  /** Loads and validates the policies: an invalid one throws (invalid_request) naming file, line and column. */
  constructor(opts: PolicyEngineOptions) {
    this.schema = cedarSchema(opts.actions)
    this.#files = [...opts.files]
    this.#cacheSize = opts.cacheSize ?? maxCache
    const schemaOk = cedar().checkParseSchema(this.schema)
    if (schemaOk.type === 'failure') throw new AppError('internal', `tidepool's Cedar schema does not parse: ${schemaOk.errors.map((e) => e.message).join('; ')}`)
    this.#schemaName = `tidepool-schema-${++preparsedSeq}`
    cedar().preparseSchema(this.#schemaName, this.schema)
    this.#install(this.#read())
  }

  /** The policy sources: the configured files, or the built-in default. */
  #read(): PolicySource[] {
    return this.#files.length > 0 ? readSources(this.#files) : [{ file: defaultPolicyName, text: defaultPolicyText }]
  }

  #install(sources: PolicySource[]): void {
    const loaded = loadPolicies(sources, this.schema)
    const setId = `tidepool-policies-${++preparsedSeq}`
    const parsed = cedar().preparsePolicySet(setId, { staticPolicies: loaded.policies })
    if (parsed.type === 'failure') throw new AppError('invalid_request', `invalid policy: ${parsed.errors.map((e) => e.message).join('; ')}`)
    this.#loaded = loaded
    this.#setId = setId
    this.#version++
    this.#loadedAt = new Date().toISOString()
    this.#cache.clear()
  }

  /**
   * Reads the files again. A set with any problem is refused (invalid_request naming each) and the
   * old set stays in force; a good one replaces it and every cached decision at once.
   */
  reload(): PolicyStatus {
    this.#install(this.#read())
    return this.status()
  }

  status(): PolicyStatus {
    return { files: [...this.#loaded.files], policies: [...this.#loaded.ids], version: this.#version, loadedAt: this.#loadedAt }
  }

  /** Some policy reads the resource: callers look up a sandbox's labels only then. */
  get readsResource(): boolean {
    return this.#loaded.readsResource
  }

  /** The policies are the built-in default (the scope table): a missing op scope denies before any input is read. */
  get isDefault(): boolean {
    return this.#files.length === 0
  }

  /**
   * The policy's answer for one request. The one function every gate calls (dispatch for each
   * operation; the sandbox-first and remediation gates for theirs). Decisions are cached by the
   * whole request: the answer depends on nothing else, so the cache never changes it.
   */
  decide(principal: Principal, action: string, resource: ResourceFacts, context: CallContext): Decision {
    const p = principalEntity(principal)
    const r = resourceEntity(resource)
    const ctx = contextRecord(context)
    const key = this.#cacheSize > 0 ? JSON.stringify([p, action, r, ctx]) : ''
    const hit = key ? this.#cache.get(key) : undefined
    if (hit) return hit
    const answer = cedar().statefulIsAuthorized({
      principal: p.uid,
      action: { type: 'Action', id: action },
      resource: r.uid,
      context: ctx,
      entities: [p, r],
      preparsedPolicySetId: this.#setId,
      preparsedSchemaName: this.#schemaName,
      validateRequest: true,
    })
    if (answer.type === 'failure') {
      // A request the schema refuses (an unknown action) is denied, never thrown at the caller as a server fault.
      return { allow: false, policies: [], errors: answer.errors.map((e) => e.message) }
    }
    const { decision, diagnostics } = answer.response
    const d: Decision = { allow: decision === 'allow', policies: [...diagnostics.reason], errors: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`) }
    if (key) {
      if (this.#cache.size >= this.#cacheSize) this.#cache.clear()
      this.#cache.set(key, d)
    }
    return d
  }
}
