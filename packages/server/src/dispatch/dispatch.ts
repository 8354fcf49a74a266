/** @module dispatch/dispatch — the one front door: authorise, read and validate, call the service, audit. */
import { operations, type AuditResult, type OpName, type Principal } from '@tidepool/sdk'
import { AppError, codeOf, invalidInput } from '../core/errors.js'
import { redactForAudit } from '../audit/redact.js'
import { auditResultOf } from '../audit/result-digest.js'
import { ByteStream } from '../kit/byte-stream.js'
import { StreamResult, type Ctx } from '../kit/context.js'
import { handlers } from './handlers.js'
import type { Services } from './services.js'

/** An operation's raw input, or a function that reads it (the HTTP shell's: body read and parse). */
export type RawInput = unknown | (() => Promise<unknown>)

/**
 * Runs one operation for a principal. Under the default policy the scope is checked first, before `raw`
 * is read (when it is a function), parsed or validated: a caller without the scope costs no body read and
 * no zod parse. The policy (policy/) then decides on the validated input, for every operation.
 */
export async function dispatch(name: OpName, raw: RawInput, ctx: Ctx, svc: Services): Promise<unknown> {
  const op = operations[name]
  const started = performance.now()
  let outcome = 'internal'
  let rawInput: unknown
  let input: Record<string, unknown> | undefined
  let created: string | undefined
  let resultOf: AuditResult | undefined
  try {
    if (svc.policy.screensByScope) authorise(ctx.principal, op.scope, name)
    rawInput = typeof raw === 'function' ? await (raw as () => Promise<unknown>)() : raw
    const parsed = op.input.safeParse(rawInput ?? {})
    if (!parsed.success) throw invalidInput(parsed.error, rawInput)
    input = parsed.data as Record<string, unknown>
    await svc.policy.authorise(ctx.principal, name, input)
    const handler = handlers[name] as (i: unknown, c: Ctx, s: Services) => Promise<unknown>
    let result = await handler(input, ctx, svc)
    outcome = 'ok'
    created = createdId(result)
    if (ctx.meta?.runId !== undefined) {
      if (result instanceof StreamResult) result = recordStreamEnd(result, name, targetOf(input) ?? created, ctx, svc)
      else resultOf = auditResultOf(isPlain(result) ? result : { returned: result instanceof ByteStream ? 'bytes' : 'stream' })
    }
    return result
  } catch (err) {
    outcome = codeOf(err)
    if (outcome === 'internal') ctx.log.error({ err, op: name }, 'internal error')
    throw err
  } finally {
    const ms = Math.round((performance.now() - started) * 10) / 10
    ctx.log.info({ op: name, actor: ctx.principal.tokenId, outcome, ms }, 'op')
    // Reads are not audited (they change nothing); every change and every exec is, whatever its outcome.
    // A call of an agent run is, whatever its method: the run's decision graph holds every step it took.
    if (op.method !== 'GET' || ctx.meta?.runId !== undefined) {
      await svc.audit.append({
        actor: `${ctx.principal.tokenId} (${ctx.principal.name})`,
        project: ctx.principal.project,
        action: name,
        // A create names what it made; anything else names what it acted on.
        target: targetOf(input ?? (rawInput as Record<string, unknown> | undefined)) ?? created,
        outcome,
        requestId: ctx.requestId,
        data: redactForAudit(input ?? {}),
        call: ctx.meta,
        result: resultOf,
      })
    }
  }
}

/**
 * A run's streamed call (NDJSON exec, a template build) is audited when it starts, like any call; its
 * result is known only at the stream's end, so that end gets a record of its own, `<op>:result`, with the
 * same requestId — the graph joins the two. A stream the client abandons records what it had seen last.
 */
function recordStreamEnd(result: StreamResult, name: string, target: string | undefined, ctx: Ctx, svc: Services): StreamResult {
  const lines = result.lines
  async function* watched(): AsyncGenerator<unknown> {
    let last: unknown
    let outcome = 'ok'
    try {
      for await (const line of lines) {
        last = line
        yield line
      }
    } catch (err) {
      outcome = codeOf(err)
      throw err
    } finally {
      await svc.audit
        .append({
          actor: `${ctx.principal.tokenId} (${ctx.principal.name})`,
          project: ctx.principal.project,
          action: `${name}:result`,
          target,
          outcome,
          requestId: ctx.requestId,
          call: ctx.meta,
          result: auditResultOf(last, true),
        })
        .catch((err: unknown) => ctx.log.error({ err, op: name }, 'audit of a stream end failed'))
    }
  }
  return new StreamResult(watched())
}

const maxTargetChars = 256

/** A JSON-shaped result (what the operation table's outputs are), not bytes, a tunnel or another live object. */
function isPlain(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return true
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

export function authorise(principal: Principal, scope: string, name: string): void {
  if (principal.scopes.includes('admin') || principal.scopes.includes(scope as never)) return
  throw new AppError('policy_denied', `${name} needs scope ${scope}; this token has ${principal.scopes.join(', ') || 'none'}`, {
    required: scope,
  })
}

/** The id of what an operation returned (a create's new sandbox, token, run, …). */
function createdId(result: unknown): string | undefined {
  // A one-shot run names the sandbox it made (and destroyed) as sandboxId.
  const r = result && typeof result === 'object' ? (result as { id?: unknown; sandboxId?: unknown }) : undefined
  const id = r?.id ?? r?.sandboxId
  return typeof id === 'string' ? id : undefined
}

function targetOf(input: Record<string, unknown> | undefined): string | undefined {
  if (!input || typeof input !== 'object') return undefined
  const id = input.id ?? input.runId ?? input.name
  // Unvalidated input (a refused request) names its target only when it is short enough to be an id.
  return typeof id === 'string' && id.length <= maxTargetChars ? id : undefined
}
