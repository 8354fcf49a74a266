import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runOfPayload } from './incoming.js'

const fixture = (name: string) => JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8')) as Record<string, any>

describe('GitHub payloads → runs', () => {
  it('a workflow_run on a PR: commit, branch, PR, attempt, workflow name and start', () => {
    expect(runOfPayload('workflow_run', fixture('workflow_run.completed.json'))).toEqual({
      run: {
        id: 'gh-700100200-wr-9876543210-2',
        commit: '5b2a8e1c9f3d4e6a7b8c9d0e1f2a3b4c5d6e7f80',
        branch: 'feature/cart-totals',
        attempt: 2,
        pipeline: 'CI',
        pr: '42',
        startedAt: '2026-01-01T10:01:03Z',
      },
      repo: 'octo-org/shop',
      headSha: '5b2a8e1c9f3d4e6a7b8c9d0e1f2a3b4c5d6e7f80',
      pr: 42,
    })
  })

  it('a push run on main has no PR', () => {
    const r = runOfPayload('workflow_run', fixture('workflow_run.push.json'))
    expect(r.run).toMatchObject({ id: 'gh-700100200-wr-9876500001-1', branch: 'main', attempt: 1 })
    expect(r.run.pr).toBeUndefined()
    expect(r.pr).toBeUndefined()
  })

  it('a check_suite: its own id, the app as the pipeline, the PR', () => {
    expect(runOfPayload('check_suite', fixture('check_suite.completed.json'))).toMatchObject({
      run: { id: 'gh-700100200-cs-22334455667', commit: '5b2a8e1c9f3d4e6a7b8c9d0e1f2a3b4c5d6e7f80', branch: 'feature/cart-totals', attempt: 1, pipeline: 'check_suite:github-actions', pr: '42' },
      repo: 'octo-org/shop',
      pr: 42,
    })
  })

  it('refuses a payload without what a run needs, naming the field', () => {
    const noBranch = fixture('check_suite.completed.json')
    noBranch.check_suite.head_branch = null
    expect(() => runOfPayload('check_suite', noBranch)).toThrow(/head_branch/)
    expect(() => runOfPayload('workflow_run', { repository: { id: 1, full_name: 'a/b' } })).toThrow(/workflow_run object is missing/)
    expect(() => runOfPayload('workflow_run', [])).toThrow(/repository.full_name/)
  })
})
