/**
 * @module webhooks/github/client — the few GitHub REST API calls the adapter makes: issue comments
 * (find by a hidden marker, create or update) and check runs (create or update).
 *
 * `apiUrl` is https://api.github.com or a GitHub Enterprise Server's https://<host>/api/v3. The token
 * goes in the Authorization header only; it is never logged or put in an error.
 */
import { AppError } from '../../core/errors.js'

export type GithubFetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal }) => Promise<{ status: number; json(): Promise<unknown> }>

export interface GithubClientOptions {
  apiUrl: string
  token: string
  timeoutMs: number
  fetch?: GithubFetch
}

export interface CheckRunFields {
  name: string
  headSha: string
  status: 'queued' | 'in_progress' | 'completed'
  conclusion?: 'success' | 'failure' | 'neutral' | 'action_required'
  title: string
  summary: string
  detailsUrl?: string | undefined
}

/** Comments read per page while looking for the marker, and pages read at most. */
const perPage = 100
const maxPages = 20

export class GithubClient {
  readonly #base: string
  constructor(private readonly o: GithubClientOptions) {
    this.#base = withoutTrailingSlashes(o.apiUrl)
  }

  /** Creates the PR's comment holding `marker`, or edits it when one exists: one comment per PR, however often it runs. */
  async upsertComment(repo: string, pr: number, marker: string, body: string): Promise<{ id: number; created: boolean }> {
    for (let page = 1; page <= maxPages; page++) {
      const list = (await this.#call('GET', `/repos/${repo}/issues/${pr}/comments?per_page=${perPage}&page=${page}`)) as { id: number; body?: string }[]
      const mine = list.find((c) => typeof c.body === 'string' && c.body.includes(marker))
      if (mine) {
        await this.#call('PATCH', `/repos/${repo}/issues/comments/${mine.id}`, { body })
        return { id: mine.id, created: false }
      }
      if (list.length < perPage) break
    }
    const made = (await this.#call('POST', `/repos/${repo}/issues/${pr}/comments`, { body })) as { id: number }
    return { id: made.id, created: true }
  }

  /** Creates a check run on the commit, or updates `id` when given. */
  async upsertCheckRun(repo: string, f: CheckRunFields, id?: number): Promise<{ id: number }> {
    const body = {
      name: f.name,
      head_sha: f.headSha,
      status: f.status,
      ...(f.conclusion ? { conclusion: f.conclusion } : {}),
      ...(f.detailsUrl ? { details_url: f.detailsUrl } : {}),
      output: { title: f.title, summary: f.summary.slice(0, 65_000) },
    }
    const made = (await this.#call(id === undefined ? 'POST' : 'PATCH', id === undefined ? `/repos/${repo}/check-runs` : `/repos/${repo}/check-runs/${id}`, body)) as { id: number }
    return { id: made.id }
  }

  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const fetchImpl: GithubFetch = this.o.fetch ?? ((url, init) => fetch(url, init))
    const res = await fetchImpl(`${this.#base}${path}`, {
      method,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${this.o.token}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': 'tidepool',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.o.timeoutMs),
    })
    if (res.status < 200 || res.status >= 300) {
      const msg = ((await res.json().catch(() => undefined)) as { message?: unknown } | undefined)?.message
      throw new AppError('bad_gateway', `GitHub ${method} ${path.split('?')[0]} answered HTTP ${res.status}${typeof msg === 'string' ? `: ${msg.slice(0, 200)}` : ''}`)
    }
    return res.json()
  }
}

/** `url` without its trailing slashes (a loop: a regex like /\/+$/ is quadratic on many slashes). */
export function withoutTrailingSlashes(url: string): string {
  let end = url.length
  while (end > 0 && url[end - 1] === '/') end--
  return url.slice(0, end)
}
