/**
 * @module webhooks/github/adapter — keeps ONE comment per pull request (found again by a hidden marker)
 * and one check run per run up to date with the run's triage, and links each waiting remediation to a
 * signed approve/reject link.
 *
 * It listens to the webhooks' in-process events, so it sees what subscriptions see. Its GitHub calls are
 * not queued durably: a call that fails is logged and tried again on the next triage of that PR.
 */
import type { Remediation } from '@tidepool/sdk'
import { type Clock, iso } from '../../core/clock.js'
import type { Logger } from '../../core/log.js'
import type { Db } from '../../store/opened-store.js'
import type { WebhooksConfig } from '../config.js'
import type { TriageSummaryData } from '../events.js'
import { webhooksDb } from '../tables.js'
import type { CheckRunFields, GithubClient } from './client.js'
import type { IncomingRun } from './incoming.js'

export const commentMarker = '<!-- tidepool:triage -->'

export interface GithubAdapterDeps {
  db: Db
  clock: Clock
  log: Logger
  cfg: WebhooksConfig['github']
  client: GithubClient
  /** A signed link deciding `remediation`, or undefined when no approver is configured for its project. */
  link: (r: Remediation, decision: 'approve' | 'reject') => string | undefined
}

const conclusionOf: Record<TriageSummaryData['verdict'], NonNullable<CheckRunFields['conclusion']>> = {
  green: 'success',
  needs_attention: 'failure',
  flaky_only: 'neutral',
  infrastructure: 'neutral',
  incomplete: 'neutral',
}

export class GithubAdapter {
  readonly #pending = new Set<Promise<void>>()

  constructor(private readonly deps: GithubAdapterDeps) {}

  /** Remembers the repository, head commit and PR of a run GitHub told us about (incoming webhooks). */
  async recordRun(project: string, inc: IncomingRun): Promise<void> {
    await webhooksDb(this.deps.db)
      .insertInto('github_runs')
      .values({ project, run_id: inc.run.id, repo: inc.repo, head_sha: inc.headSha, pr: inc.pr ?? null, check_run_id: null, created_at: iso(this.deps.clock.now()) })
      .onConflict((oc) => oc.columns(['project', 'run_id']).doUpdateSet({ pr: inc.pr ?? null }))
      .execute()
  }

  /** Starts the GitHub update for a triage (errors are logged); `settle()` waits for it. */
  onTriage(project: string, t: TriageSummaryData): void {
    const p = this.update(project, t)
      .catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message, run: t.run.id }, 'github: updating the PR comment or check run failed'))
      .finally(() => this.#pending.delete(p))
    this.#pending.add(p)
  }

  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }

  /** The comment (when the run has a PR) and the check run of a triaged run that GitHub knows; nothing for other runs. */
  async update(project: string, t: TriageSummaryData): Promise<void> {
    const db = webhooksDb(this.deps.db)
    const gh = await db.selectFrom('github_runs').selectAll().where('project', '=', project).where('run_id', '=', t.run.id).executeTakeFirst()
    if (!gh) return
    const body = this.render(t)
    if (gh.pr !== null) await this.deps.client.upsertComment(gh.repo, Number(gh.pr), commentMarker, body)
    const known = gh.check_run_id === null ? undefined : Number(gh.check_run_id)
    const check = await this.deps.client.upsertCheckRun(
      gh.repo,
      {
        name: this.deps.cfg.checkName,
        headSha: gh.head_sha,
        status: 'completed',
        conclusion: conclusionOf[t.verdict],
        title: `${t.verdict.replace('_', ' ')}: ${t.failures} failure(s), ${t.remediations.filter((r) => r.status === 'suggested').length} remediation(s) waiting`,
        summary: body,
      },
      known,
    )
    if (known !== check.id) await db.updateTable('github_runs').set({ check_run_id: check.id }).where('project', '=', project).where('run_id', '=', t.run.id).execute()
  }

  /** The comment: the marker, the triage Markdown, and a line per waiting remediation with its links. */
  render(t: TriageSummaryData): string {
    const waiting = t.remediations.filter((r) => r.status === 'suggested')
    const lines = [commentMarker, t.markdown.trim(), '']
    if (waiting.length > 0) {
      lines.push('#### Remediations waiting for a decision', '')
      for (const r of waiting) {
        const approve = this.deps.link(r, 'approve')
        const reject = this.deps.link(r, 'reject')
        const links = approve && reject ? ` — [approve](${approve}) · [reject](${reject})` : ' — decide with `tidepool insights remediations`'
        lines.push(`- \`${r.id}\` **${r.kind}**${r.testId ? ` of \`${r.testId}\`` : ''}: ${r.reason}${links}`)
      }
      lines.push('')
    }
    lines.push(`<sub>tidepool run \`${t.run.id}\` (attempt ${t.run.attempt}) · updated ${iso(this.deps.clock.now())}</sub>`)
    return lines.join('\n')
  }
}
