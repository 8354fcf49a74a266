/** @module sandboxes/sandbox-row — a stored sandbox row as the contract's Sandbox and as the runtime's ref. */
import type { SandboxInfo as Sandbox, SandboxState } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { RuntimeRef } from '../runtime/runtime.js'
import type { SandboxRow } from '../store/schema.js'
import type { ResolvedTemplate } from '../kit/template-seam.js'

/** A live sandbox as the exec and files services need it. */
export interface LiveSandbox {
  row: SandboxRow
  ref: RuntimeRef
  envs: Record<string, string>
  /** Exec defaults from its template (workdir, user). */
  defaults: { cwd?: string; user?: 'user' | 'root' }
}

/** The states in which a sandbox holds runtime resources (and counts against quotas). */
export const live: SandboxState[] = ['starting', 'running', 'paused']

export function refOf(row: SandboxRow): RuntimeRef {
  if (!row.runtime_ref) throw new AppError('conflict', `sandbox ${row.id} has no runtime yet (${row.state})`)
  return JSON.parse(row.runtime_ref) as RuntimeRef
}

export function toSandbox(row: SandboxRow): Sandbox {
  return {
    id: row.id,
    project: row.project,
    state: row.state as SandboxState,
    reason: row.reason,
    template: row.template,
    ...(row.template_ref ? { templateDigest: (JSON.parse(row.template_ref) as ResolvedTemplate).ref.digest } : {}),
    ...(row.parent_snapshot ? { parentSnapshot: row.parent_snapshot } : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
    timeoutMs: Number(row.timeout_ms),
    lifecycle: JSON.parse(row.lifecycle) as Sandbox['lifecycle'],
    resources: JSON.parse(row.resources) as Sandbox['resources'],
    envKeys: Object.keys(JSON.parse(row.envs) as object).sort(),
    metadata: JSON.parse(row.metadata) as Record<string, string>,
  }
}

/** A live row as exec and files use it: its runtime ref, envs and its template's exec defaults. */
export function liveOf(row: SandboxRow): LiveSandbox {
  return { ...execViewOf(row), ref: refOf(row) }
}

/** liveOf without the runtime ref: what a command's request is made of, also before the sandbox runs. */
export function execViewOf(row: SandboxRow): Omit<LiveSandbox, 'ref'> {
  const t = row.template_ref ? (JSON.parse(row.template_ref) as ResolvedTemplate) : undefined
  const defaults: LiveSandbox['defaults'] = {}
  if (t?.workdir) defaults.cwd = t.workdir
  if (t?.user) defaults.user = t.user
  return { row, envs: JSON.parse(row.envs) as Record<string, string>, defaults }
}
