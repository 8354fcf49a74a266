/**
 * @module bench/workflows — workflow engine overhead per step beyond the steps' own work: a workflow of N
 * assert.equals steps (no sandbox) through WorkflowService, against the same N actions run directly
 * through ActionService, interleaved; overhead/step = (workflow − direct) / N. Target ≤ 1 ms/step.
 */
import type { Principal } from '@tidepool/sdk'
import { builtinActions } from '../actions/catalog.js'
import { ActionService } from '../actions/service.js'
import { WorkflowService } from '../actions/workflows/service.js'
import { systemClock } from '../core/clock.js'
import { openStore } from '../store/db.js'
import { machine, metric, type BenchResult } from './result.js'

const steps = 20
const samples = 40
const who = { tokenId: 'tok_bench', name: 'bench', project: 'bench', scopes: ['sandboxes:read'] } as Principal

export async function run(): Promise<BenchResult> {
  const store = await openStore(':memory:')
  const actions = new ActionService({
    sandbox: {
      exec: async () => {
        throw new Error('no sandbox in this bench')
      },
    },
  })
  const workflows = new WorkflowService({ db: store.db, clock: systemClock, actions: builtinActions, runner: actions })
  const lines = ['name: bench', 'steps:']
  for (let i = 0; i < steps; i++)
    lines.push(`  - id: s${i}`, '    uses: assert.equals', i === 0 ? '    with: { actual: 1, expected: 1 }' : `    with:\n      actual: \${{ steps.s${i - 1}.outputs.equal }}\n      expected: true`)
  const workflow = `${lines.join('\n')}\n`
  const direct = async () => {
    for (let i = 0; i < steps; i++) await actions.run(who, { name: 'assert.equals', input: { actual: 1, expected: 1 }, timing: false })
  }
  const viaWorkflow = async () => {
    const r = await workflows.run(who, { workflow, inputs: {} })
    if (r.status !== 'passed') throw new Error(`bench workflow failed: ${JSON.stringify(r.steps)}`)
  }
  for (let i = 0; i < 5; i++) {
    await direct()
    await viaWorkflow()
  }
  const overhead: number[] = []
  const whole: number[] = []
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now()
    await direct()
    const t1 = performance.now()
    await viaWorkflow()
    const t2 = performance.now()
    whole.push((t2 - t1) / steps)
    overhead.push((t2 - t1 - (t1 - t0)) / steps)
  }
  await store.close()
  return {
    name: 'workflows',
    at: new Date().toISOString(),
    machine: machine(),
    metrics: [
      metric(`workflow engine overhead per step (${steps} steps, incl. validation and storing the run)`, 'ms', overhead, { target: '<= 1 ms' }),
      metric('workflow time per step, whole', 'ms', whole),
    ],
  }
}
