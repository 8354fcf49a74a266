/**
 * @module audit/result-digest — what the audit keeps of a run's call result, and the digest a replay is
 * compared with. The digest is taken over a normalised form: fields that differ on every run of the same
 * call (generated ids, times, durations, pids) are blanked, so two runs doing the same thing with the same
 * effect digest the same, and a changed exit code, output or error does not.
 */
import type { AuditResult } from '@tidepool/sdk'
import { canonicalJson } from './canonical-json.js'
import { hashText } from './audit-row.js'
import { redactForAudit } from './redact.js'

/** Keys whose values are run-specific by nature: times, durations, sizes on disk, process ids, cursors. */
const volatileKeys = new Set([
  'at',
  'createdAt',
  'updatedAt',
  'startedAt',
  'endedAt',
  'finishedAt',
  'expiresAt',
  'lastActivityAt',
  'mtime',
  'ms',
  'durationMs',
  'elapsedMs',
  'pid',
  'requestId',
  'nextToken',
  'bytes',
  'exclusiveBytes',
  'usedBytes',
])
const maxDepth = 16

/** A generated id: a short lower-case prefix, `_`, then letters and digits (sbx_…, snap_…, req_…). Linear: no nested quantifier. */
export function isGeneratedId(s: string): boolean {
  const u = s.indexOf('_')
  if (u < 2 || u > 6 || s.length - u - 1 < 6 || s.length > 64) return false
  for (let i = 0; i < u; i++) {
    const c = s.charCodeAt(i)
    if (c < 97 || c > 122) return false
  }
  for (let i = u + 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95
    if (!alnum) return false
  }
  return true
}

/** The run-independent form of a value: generated ids as `<id>`, volatile keys as `<…>`. */
export function normaliseResult(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return isGeneratedId(value) ? '<id>' : value
  if (value === null || typeof value !== 'object') return value
  if (depth >= maxDepth) return '[nested]'
  if (Array.isArray(value)) return value.map((v) => normaliseResult(v, depth + 1))
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const k of Object.keys(value)) out[k] = volatileKeys.has(k) ? '<…>' : normaliseResult((value as Record<string, unknown>)[k], depth + 1)
  return out
}

/** What the audit keeps of a result: redacted and bounded first, so the digest covers exactly what is kept. */
export function auditResultOf(result: unknown, streamed = false): AuditResult {
  const preview = result === undefined ? null : redactForAudit(result)
  return { digest: hashText(canonicalJson(normaliseResult(preview))), preview, ...(streamed ? { streamed } : {}) }
}
