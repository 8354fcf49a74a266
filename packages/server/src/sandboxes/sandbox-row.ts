/** @module sandboxes/sandbox-row — a stored sandbox row as the contract's Sandbox and as the runtime's ref. */
import type { SandboxInfo as Sandbox, SandboxState } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { RuntimeRef } from '../runtime/runtime.js'
import type { SandboxRow } from '../store/schema.js'

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
