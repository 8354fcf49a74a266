/** @module policy/entities — a principal, a resource and a call's context as Cedar entities (pure). */
import type { Principal } from '@tidepool/sdk'
import type { CedarValueJson, EntityJson } from './cedar.js'

/** What a decision is about besides the principal: a sandbox (with its labels) or a project. */
export type ResourceFacts = { kind: 'sandbox'; id: string; project: string; state: string; labels: Record<string, string> } | { kind: 'project'; id: string }

/** The call's context (the schema's `Call` type). */
export interface CallContext {
  op: string
  requiredScopes: string[]
  readOnly: boolean
  actionName?: string | undefined
  sandboxId?: string | undefined
  /** A remediation's decision: whether the feedback loop applies it by itself (false: a person asked). */
  auto?: boolean | undefined
  /** createSandbox: the isolation level asked for (or runtime.defaultIsolation). */
  isolation?: string | undefined
}

/**
 * A token's labels: the `key=value` words of its name (`agent-7 run=r42` has label run=r42). Only an
 * admin names tokens, so a label is as trusted as the token.
 */
export function tokenLabels(name: string): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>
  for (const word of name.split(' ')) {
    const eq = word.indexOf('=')
    if (eq > 0 && eq < word.length - 1) labels[word.slice(0, eq)] = word.slice(eq + 1)
  }
  return labels
}

export function principalEntity(p: Principal): EntityJson {
  return {
    uid: { type: 'Token', id: p.tokenId },
    attrs: { name: p.name, project: p.project, scopes: [...p.scopes] },
    parents: [{ type: 'Project', id: p.project }],
    tags: tokenLabels(p.name),
  }
}

export function resourceEntity(r: ResourceFacts): EntityJson {
  if (r.kind === 'project') return { uid: { type: 'Project', id: r.id }, attrs: {}, parents: [] }
  return {
    uid: { type: 'Sandbox', id: r.id },
    attrs: { project: r.project, state: r.state },
    parents: r.project ? [{ type: 'Project', id: r.project }] : [],
    tags: { ...r.labels },
  }
}

export function contextRecord(c: CallContext): Record<string, CedarValueJson> {
  const out: Record<string, CedarValueJson> = { op: c.op, requiredScopes: [...c.requiredScopes], readOnly: c.readOnly }
  if (c.actionName !== undefined) out.actionName = c.actionName
  if (c.sandboxId !== undefined) out.sandboxId = c.sandboxId
  if (c.auto !== undefined) out.auto = c.auto
  if (c.isolation !== undefined) out.isolation = c.isolation
  return out
}
