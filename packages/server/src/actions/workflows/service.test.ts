import type { Principal } from '@tidepool/sdk'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore, type OpenedStore } from '../../store/db.js'
import { builtinActions } from '../catalog.js'
import { ActionService } from '../service.js'
import { WorkflowService } from './service.js'

const me = { tokenId: 'tok_me', name: 'me', project: 'p1', scopes: ['sandboxes:read'] } as Principal
const other = { ...me, tokenId: 'tok_o', project: 'p2' } as Principal
let store: OpenedStore
let svc: WorkflowService
let now = Date.parse('2026-01-01T00:00:00Z')

// assert.* actions need no sandbox: the engine runs them through the real actions service.
const flow = `name: checks
inputs:
  want: { type: number, default: 2 }
  label: { required: true }
steps:
  - id: first
    uses: assert.equals
    with:
      actual: { n: 2, s: '2' }
      expected:
        n: \${{ inputs.want }}
        s: '\${{ inputs.want }}'
  - id: second
    name: compare the label
    uses: assert.match
    with: { value: "\${{ inputs.label }}-x", pattern: "^[a-z]+-x$" }
  - id: broken
    uses: assert.equals
    with: { actual: "\${{ steps.first.outputs.equal }}", expected: false }
  - id: skipped
    uses: assert.equals
    with: { actual: 1, expected: 1 }
  - id: cleanup
    if: failure()
    uses: assert.equals
    with: { actual: "\${{ steps.broken.outcome }}", expected: failure }
`

beforeEach(async () => {
  store = await openStore(':memory:')
  const actions = new ActionService({
    sandbox: {
      exec: async () => {
        throw new Error('no sandbox in this test')
      },
    },
  })
  svc = new WorkflowService({ db: store.db, clock: { now: () => (now += 1000) }, actions: builtinActions, runner: actions })
})
afterEach(async () => {
  await store.close()
})

describe('WorkflowService', () => {
  it('runs steps in order: references, if: failure() cleanup, skipping after a failure', async () => {
    const run = await svc.run(me, { workflow: flow, inputs: { label: 'web' } })
    expect(run.status).toBe('failed')
    expect(run.inputs).toEqual({ want: 2, label: 'web' })
    expect(run.steps.map((s) => [s.id, s.status])).toEqual([
      ['first', 'passed'],
      ['second', 'passed'],
      ['broken', 'failed'],
      ['skipped', 'skipped'],
      ['cleanup', 'passed'],
    ])
    expect(run.steps[2]!.output).toEqual({ equal: false, firstDifference: '$' })
    expect(Object.keys(run.timings!.steps)).toEqual(['first', 'second', 'broken', 'cleanup'])
    expect(await svc.get(me, run.id)).toEqual(run)
    await expect(svc.get(other, run.id)).rejects.toMatchObject({ code: 'not_found' })
  })

  it('continue lets later steps run and the run pass; an action error is a failed step with its code', async () => {
    const text = `name: c
steps:
  - id: a
    uses: assert.equals
    on_failure: continue
    with: { actual: 1, expected: 2 }
  - id: b
    uses: assert.match
    with: { value: "\${{ steps.a.outputs.nothing }}", pattern: x }
    on_failure: continue
  - id: c
    uses: assert.equals
    with: { actual: 1, expected: 1 }
  - id: d
    uses: assert.equals
    on_failure: snapshot
    if: steps.c.ok && !steps.a.ok
    with: { actual: 1, expected: 2 }
`
    const run = await svc.run(me, { workflow: text, inputs: {} })
    expect(run.steps.map((s) => [s.id, s.status, s.error?.code])).toEqual([
      ['a', 'failed', undefined],
      ['b', 'failed', 'invalid_request'],
      ['c', 'passed', undefined],
      ['d', 'failed', 'invalid_request'],
    ])
    expect(run.steps[1]!.error!.message).toBe('steps.a.outputs.nothing is not set (step a has no such output)')
    expect(run.steps[3]!.error!.message).toContain('took no snapshot: the run has no sandbox')
    expect(run.status).toBe('failed')
  })

  it('refuses a bad file or bad inputs before running anything, with line and column', async () => {
    await expect(svc.run(me, { workflow: 'name: x\nsteps:\n  - id: a\n    uses: nope\n', inputs: {} })).rejects.toMatchObject({
      code: 'invalid_request',
      message: 'workflow: 4:11 steps[0].uses: unknown action nope; GET /v1/actions lists them',
      details: [{ path: 'workflow.steps[0].uses', line: 4, column: 11 }],
    })
    await expect(svc.run(me, { workflow: flow, inputs: { want: 'many', extra: 1 } })).rejects.toMatchObject({
      code: 'invalid_request',
      details: [
        { path: 'inputs.extra', message: expect.stringContaining('declares no input extra') },
        { path: 'inputs.want', message: 'must be a number (got "many")' },
        { path: 'inputs.label', message: expect.stringContaining('required') },
      ],
    })
    expect((await svc.list(me, { limit: 10 })).items).toEqual([])
  })

  it('gives byte-identical JSON reports for the same workflow, and replays with the same inputs', async () => {
    const a = await svc.run(me, { workflow: flow, inputs: { label: 'web', want: '2' } })
    const b = await svc.replay(me, a.id)
    expect(b.id).not.toBe(a.id)
    expect(b.replayOf).toBe(a.id)
    expect(b.inputs).toEqual(a.inputs)
    const ra = await svc.report(me, a.id, 'json')
    const rb = await svc.report(me, b.id, 'json')
    expect(rb.content).toBe(ra.content)
    expect(ra.content).not.toContain(a.id)
    expect(JSON.parse(ra.content).summary).toEqual({ steps: 5, passed: 3, failed: 1, skipped: 1 })
    expect(JSON.parse((await svc.report(me, a.id, 'json', true)).content).timings.steps).toHaveProperty('first')
  })

  it('writes JUnit with one testcase per step and Markdown for a PR', async () => {
    const run = await svc.run(me, { workflow: flow, inputs: { label: 'web' } })
    const junit = (await svc.report(me, run.id, 'junit')).content
    expect(junit).toContain('<testsuite name="checks" tests="5" failures="1" errors="0" skipped="1"')
    expect(junit).toContain('<testcase classname="checks" name="first" time="')
    expect(junit).toMatch(/<testcase classname="checks" name="broken" time="[0-9.]+">\n\s+<failure message="assert.equals did not pass" type="assert.equals">/)
    expect(junit).toContain('<skipped message="if: condition was false"/>')
    const md = (await svc.report(me, run.id, 'markdown')).content
    expect(md).toContain('## ❌ Workflow `checks` failed')
    expect(md).toContain('| ✅ | compare the label | `assert.match` | passed |')
    expect(md).toContain('<details><summary>❌ <code>broken</code> (assert.equals)</summary>')
  })

  it('lists runs newest first, in pages', async () => {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await svc.run(me, { workflow: flow, inputs: { label: 'a' } })).id)
    const p1 = await svc.list(me, { limit: 2 })
    expect(p1.items.map((r) => r.id)).toEqual([ids[2], ids[1]])
    const p2 = await svc.list(me, { limit: 2, nextToken: p1.nextToken })
    expect(p2.items.map((r) => r.id)).toEqual([ids[0]])
    expect(p2.nextToken).toBeUndefined()
    expect((await svc.list(other, { limit: 10 })).items).toEqual([])
  })
})
