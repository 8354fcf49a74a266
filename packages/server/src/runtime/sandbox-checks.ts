/** @module runtime/sandbox-checks — the checks every Runtime applies to a sandbox id and its limits (the suite holds each to them). */
import type { ResourceLimits } from './runtime.js'
import { RuntimeError } from './local/runtime-error.js'

/** A sandbox id: one path segment and one cgroup name on any host. */
export const SANDBOX_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/

export function checkSandboxId(id: string): void {
  if (!SANDBOX_ID_RE.test(id)) {
    throw new RuntimeError('invalid_request', `sandbox id must be 1-63 characters of [A-Za-z0-9_-] starting with a letter or digit (got ${JSON.stringify(id)})`)
  }
}

/** cpu, memoryMb and pids in range; `pidsBound` is the host's own ceiling where it has one. */
export function checkLimits(l: ResourceLimits, pidsBound?: number): void {
  if (!(Number.isFinite(l.cpu) && l.cpu > 0)) throw new RuntimeError('invalid_request', `resources.cpu must be a positive number of cores (got ${l.cpu})`)
  if (!(Number.isInteger(l.memoryMb) && l.memoryMb >= 4)) throw new RuntimeError('invalid_request', `resources.memoryMb must be an integer >= 4 (got ${l.memoryMb})`)
  if (!(Number.isInteger(l.pids) && l.pids >= 2)) throw new RuntimeError('invalid_request', `resources.pids must be an integer >= 2 (got ${l.pids})`)
  if (pidsBound !== undefined && l.pids > pidsBound) {
    throw new RuntimeError(
      'invalid_request',
      `resources.pids must be at most ${pidsBound} on this host (half of its kernel task limit, min(pid_max, threads-max); the rest is the host's headroom) (got ${l.pids}); ask for fewer`,
    )
  }
}
