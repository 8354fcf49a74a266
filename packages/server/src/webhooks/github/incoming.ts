/**
 * @module webhooks/github/incoming — GitHub `workflow_run` and `check_suite` webhook payloads → the run
 * they describe (commit, branch, PR, attempt), so a team's CI needs no change to report runs.
 *
 * Only the documented fields used here are read (GitHub's webhook payload reference); anything else in the
 * payload is ignored. A payload without a head commit or branch is refused with a message saying so.
 */
import type { CreateRunInput } from '@tidepool/sdk'
import { AppError } from '../../core/errors.js'

export interface IncomingRun {
  /** The run as createRun takes it (its id is stable per workflow run and attempt, so redeliveries are idempotent). */
  run: CreateRunInput & { id: string }
  /** owner/name */
  repo: string
  headSha: string
  pr?: number | undefined
}

/** Events this endpoint turns into runs; others (ping included) are acknowledged and ignored. */
export const runEvents = new Set(['workflow_run', 'check_suite'])

type Json = Record<string, unknown>
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined)
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined)
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined)

/** The run of a `workflow_run` or `check_suite` payload. */
export function runOfPayload(event: string, payload: unknown): IncomingRun {
  const body = obj(payload)
  const repository = obj(body?.repository)
  const repo = str(repository?.full_name)
  const repoId = int(repository?.id)
  if (!repo || repoId === undefined) throw new AppError('invalid_request', `${event} payload: repository.full_name and repository.id are required`)
  const subject = obj(body?.[event])
  if (!subject) throw new AppError('invalid_request', `${event} payload: the ${event} object is missing`)
  const headSha = str(subject.head_sha)
  const branch = str(subject.head_branch)
  const id = int(subject.id)
  if (!headSha || !branch || id === undefined)
    throw new AppError('invalid_request', `${event} payload: ${event}.id, ${event}.head_sha and ${event}.head_branch are required (a check suite on a tag or a deleted branch has no branch)`)
  const prs = Array.isArray(subject.pull_requests) ? subject.pull_requests : []
  const pr = int(obj(prs[0])?.number)
  if (event === 'workflow_run') {
    const attempt = Math.min(1000, Math.max(1, int(subject.run_attempt) ?? 1))
    const startedAt = str(subject.run_started_at) ?? str(subject.created_at)
    return {
      run: {
        id: `gh-${repoId}-wr-${id}-${attempt}`,
        commit: headSha,
        branch: branch.slice(0, 256),
        attempt,
        ...(str(subject.name) ? { pipeline: str(subject.name)!.slice(0, 256) } : {}),
        ...(pr !== undefined ? { pr: String(pr) } : {}),
        ...(startedAt && !Number.isNaN(Date.parse(startedAt)) ? { startedAt } : {}),
      },
      repo,
      headSha,
      pr,
    }
  }
  const app = str(obj(subject.app)?.slug)
  const createdAt = str(subject.created_at)
  return {
    run: {
      id: `gh-${repoId}-cs-${id}`,
      commit: headSha,
      branch: branch.slice(0, 256),
      attempt: 1,
      ...(app ? { pipeline: `check_suite:${app}`.slice(0, 256) } : {}),
      ...(pr !== undefined ? { pr: String(pr) } : {}),
      ...(createdAt && !Number.isNaN(Date.parse(createdAt)) ? { startedAt: createdAt } : {}),
    },
    repo,
    headSha,
    pr,
  }
}
